#!/usr/bin/env node
// Hotline's benchmark: every scenario against every peer, in alternation,
// several rounds, medians, ratios to ws and to the raw `net` ceiling.
// See bench/README.md. `node bench/run.mjs --help` for the flags.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cpuOf,
  ensureLoadgen,
  freePort,
  machineBusySeconds,
  rssOf,
  runLoadgen,
  sleep,
  startPeer,
  waitQuiet,
  which,
  withTimeout,
} from './lib/processes.mjs';
import { SCENARIOS } from './lib/scenarios.mjs';
import { definePeers } from './lib/peers.mjs';
import { fmt, machineInfo, renderReport, summarize } from './lib/report.mjs';

// A run during which other processes used more than this share of a CPU is
// repeated (up to --retries times): it measured the machine, not the peer.
const MAX_OTHER_LOAD = 0.15;

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const PEERS = definePeers(ROOT);

const HELP = `usage: node bench/run.mjs [options]

  --rounds N          rounds per scenario and peer (default 5; smoke 1)
  --duration S        measured seconds per run (default 3; smoke 0.3)
  --warmup S          unmeasured seconds before each run (default 1; smoke 0.2)
  --scenarios LIST    comma-separated, from: ${Object.keys(SCENARIOS).join(', ')}
  --peers LIST        comma-separated, from: ${Object.keys(PEERS).join(', ')}
  --smoke             tiny loads, about a second per run: checks the machinery only
  --out FILE          Markdown report path (default bench/results/<date>-<host>.md;
                      smoke runs write none unless --out is given)
  --json FILE         also write every run and the summary as JSON
  --fanout-inflight K publishes in flight in the fan-out (default 4): 1 measures one
                      broadcast at a time, more let a server batch them per subscriber
  --quiet-wait S      before each run, wait up to S seconds for the machine to be
                      idle (default 20; smoke 0) — other work on the CPUs skews results
  --retries N         repeat a run disturbed by other work up to N times (default 2; smoke 0)
  --no-pin            do not pin with taskset
  --server-cpu N      CPU for the peers (default 0)
  --loadgen-cpu N     CPU for the load generator (default 1)
  --quiet             no per-run lines
  --from FILE         measure nothing: render the report again from a raw JSON
                      file of bench/results/raw/ (or one written with --json)
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      scenarios: { type: 'string' },
      peers: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'string' },
      'quiet-wait': { type: 'string' },
      'fanout-inflight': { type: 'string' },
      retries: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'server-cpu': { type: 'string', default: '0' },
      'loadgen-cpu': { type: 'string', default: '1' },
      quiet: { type: 'boolean', default: false },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (v, name, dflt) => {
    if (v == null) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const list = (v, known, name) => {
    // Opt-in peers (the baseline build) run by default only when they are configured.
    if (v == null) return Object.keys(known).filter((id) => !known[id].optIn || known[id].unavailable() === null);
    const ids = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const id of ids) if (!known[id]) throw new Error(`unknown ${name} "${id}" (known: ${Object.keys(known).join(', ')})`);
    return ids;
  };
  const smoke = values.smoke;
  return {
    smoke,
    rounds: Math.round(num(values.rounds, 'rounds', smoke ? 1 : 5)),
    duration: num(values.duration, 'duration', smoke ? 0.3 : 3),
    warmup: values.warmup === '0' ? 0 : num(values.warmup, 'warmup', smoke ? 0.2 : 1),
    scenarioIds: list(values.scenarios, SCENARIOS, 'scenario'),
    peerIds: list(values.peers, PEERS, 'peer'),
    out: values.out,
    json: values.json,
    fanoutInflight: values['fanout-inflight'] == null ? null : Math.round(num(values['fanout-inflight'], 'fanout-inflight')),
    retries: values.retries === '0' ? 0 : Math.round(num(values.retries, 'retries', smoke ? 0 : 2)),
    quietWait: values['quiet-wait'] === '0' ? 0 : num(values['quiet-wait'], 'quiet-wait', smoke ? 0 : 20),
    pin: !values['no-pin'],
    serverCpu: Number(values['server-cpu']),
    loadgenCpu: Number(values['loadgen-cpu']),
    quiet: values.quiet,
    from: values.from,
  };
}

function log(...args) {
  process.stderr.write(`${args.join(' ')}\n`);
}

/** Loadgen arguments shared by every mode. */
function baseArgs(peer, port, settings) {
  return ['--proto', peer.proto, '--host', '127.0.0.1', '--port', String(port), '--duration', String(settings.duration), '--warmup', String(settings.warmup)];
}

/**
 * Runs the generator and samples, over the measured window, the server's CPU
 * and the CPU used by everything else on the machine ("other load", in cores):
 * busy time of all CPUs minus the server, the generator and this script.
 */
async function measured(bin, args, server, settings, timeoutMs) {
  let cpu0 = NaN;
  let busy0 = NaN;
  let self0 = null;
  let t0 = 0;
  const { result } = runLoadgen(bin, args, {
    cpu: settings.loadgenCpu,
    timeoutMs,
    onEvent: (ev) => {
      if (ev.event === 'measure') {
        cpu0 = cpuOf(server.pid);
        busy0 = machineBusySeconds();
        self0 = process.cpuUsage();
        t0 = performance.now();
      }
    },
  });
  const res = await result;
  const wall = (performance.now() - t0) / 1000;
  const server1 = cpuOf(server.pid) - cpu0;
  const self = process.cpuUsage(self0 ?? undefined);
  const others = machineBusySeconds() - busy0 - server1 - res.cpu_s - (self.user + self.system) / 1e6;
  return { res, serverCpu: server1 / wall, otherLoad: Math.max(0, others / wall) };
}

function check(res) {
  if (!res.ok) throw new Error(`load generator: ${res.error}${res.first_error ? ` (${res.first_error})` : ''}`);
  if (res.errors > 0) throw new Error(`${res.errors} error(s), first: ${res.first_error}`);
  if (!(res.count > 0)) throw new Error('nothing was counted');
}

async function runEcho(bin, peer, port, server, p, settings) {
  const args = ['--mode', 'echo', ...baseArgs(peer, port, settings), '--path', '/', '--conns', String(p.conns), '--inflight', String(p.inflight), '--size', String(p.size)];
  if (p.binary) args.push('--binary');
  const timeout = (settings.warmup + settings.duration + 45) * 1000;
  const { res, serverCpu, otherLoad } = await measured(bin, args, server, settings, timeout);
  check(res);
  return { value: res.rate, serverCpu, otherLoad, loadgenIdle: res.idle_share, detail: res };
}

async function runFanout(bin, peer, port, server, p, settings) {
  const args = [
    '--mode', 'fanout', ...baseArgs(peer, port, settings), '--path', '/broadcast',
    '--conns', String(p.conns), '--inflight', String(p.inflight), '--size', String(p.size), '--concurrency', String(p.concurrency),
  ];
  const timeout = (settings.warmup + settings.duration + 60) * 1000;
  const { res, serverCpu, otherLoad } = await measured(bin, args, server, settings, timeout);
  check(res);
  if (res.subscribers < p.conns) throw new Error(`only ${res.subscribers} of ${p.conns} subscribers stayed connected`);
  return { value: res.rate, serverCpu, otherLoad, loadgenIdle: res.idle_share, detail: res };
}

async function runHandshakes(bin, peer, port, server, p, settings) {
  // Stops after `count` handshakes; the duration is only a cap.
  const cap = Math.max(settings.duration * 10, 20);
  const args = ['--mode', 'handshake', ...baseArgs(peer, port, settings), '--path', '/', '--count', String(p.count), '--concurrency', String(p.concurrency)];
  args[args.indexOf('--duration') + 1] = String(cap);
  const timeout = (settings.warmup + cap + 30) * 1000;
  const { res, serverCpu, otherLoad } = await measured(bin, args, server, settings, timeout);
  check(res);
  return { value: res.rate, serverCpu, otherLoad, loadgenIdle: res.idle_share, detail: res };
}

async function gcAndRss(server) {
  const reply = await server.request({ type: 'gc' });
  await sleep(100);
  return { rss: rssOf(server.pid), gc: Boolean(reply?.gc), heapUsed: reply?.heapUsed };
}

async function runIdle(bin, peer, port, server, p, settings) {
  // Warm the upgrade path first so that code compiled on first use is not
  // counted as memory per connection.
  const warm = runLoadgen(bin, ['--mode', 'handshake', ...baseArgs(peer, port, settings), '--count', String(p.prewarm), '--concurrency', '20', '--warmup', '0'], {
    cpu: settings.loadgenCpu,
    timeoutMs: 30000,
  });
  check(await warm.result);
  await sleep(200);
  const before = await gcAndRss(server);

  let ready = null;
  let readySignal;
  const readyPromise = new Promise((resolve) => {
    readySignal = resolve;
  });
  const idle = runLoadgen(bin, ['--mode', 'idle', ...baseArgs(peer, port, settings), '--path', '/', '--conns', String(p.conns), '--concurrency', String(p.concurrency), '--hold', '120'], {
    cpu: settings.loadgenCpu,
    timeoutMs: 180000,
    keepStdin: true,
    onEvent: (ev) => {
      if (ev.event === 'ready') {
        ready = ev;
        readySignal(ev);
      }
    },
  });
  idle.result.catch(() => readySignal(null));
  await withTimeout(readyPromise, 90000, `${p.conns} idle connections`);
  if (!ready) return check(await idle.result);
  await sleep(500); // let the server finish the last upgrades
  const after = await gcAndRss(server);
  idle.child.stdin.end('stop\n');
  const res = await idle.result;
  if (ready.failed > 0 || ready.open < p.conns) throw new Error(`only ${ready.open} of ${p.conns} connections opened: ${res.first_error}`);
  if (res.closed > 0) throw new Error(`${res.closed} idle connection(s) were closed by the server: ${res.first_error}`);
  if (!server.alive()) throw new Error('the server died');
  const value = (after.rss - before.rss) / ready.open;
  return {
    value,
    serverCpu: NaN,
    loadgenIdle: NaN,
    detail: { open: ready.open, rssBefore: before.rss, rssAfter: after.rss, gc: before.gc && after.gc, heapBefore: before.heapUsed, heapAfter: after.heapUsed, setup_s: ready.setup_s },
  };
}

const RUNNERS = { echo: runEcho, fanout: runFanout, handshake: runHandshakes, idle: runIdle };

async function measure(bin, sid, pid, round, settings, unavailable) {
  const sc = SCENARIOS[sid];
  // A peer may run another server for some kinds of scenario (the raw ceiling does).
  const peer = { ...PEERS[pid], ...PEERS[pid][sc.kind] };
  const params = { ...(settings.smoke ? sc.smoke : sc.full) };
  if (sc.kind === 'fanout' && settings.fanoutInflight) params.inflight = settings.fanoutInflight;
  const rec = { scenario: sid, peer: pid, round, ok: false, value: NaN, unit: sc.unit };
  if (settings.quietWait > 0) {
    const q = await waitQuiet({ maxWaitMs: settings.quietWait * 1000 });
    rec.busyBefore = q.busy;
    rec.quiet = q.quiet;
  }
  const port = await freePort();
  let server;
  try {
    server = await startPeer(peer.argv(port), { port, cwd: ROOT, cpu: settings.serverCpu });
  } catch (err) {
    rec.error = `failed to start: ${err.message}`;
    // A peer that cannot start will not start for the next scenario either.
    unavailable[pid] = rec.error;
    return rec;
  }
  try {
    const out = await RUNNERS[sc.kind](settings.bin, peer, port, server, params, settings);
    Object.assign(rec, out, { ok: true });
  } catch (err) {
    rec.error = err.message;
    if (!server.alive()) rec.error += ` — the server exited: ${server.output().trim().slice(-500)}`;
  } finally {
    await server.stop().catch(() => {});
  }
  return rec;
}

/** Renders the report of an earlier run again, from its raw JSON. */
function rerender(settings) {
  const saved = JSON.parse(readFileSync(settings.from, 'utf8'));
  const { meta, runs } = saved;
  const unavailable = saved.unavailable ?? {};
  const s = saved.settings;
  const summary = summarize(runs, s.scenarioIds, s.peerIds, SCENARIOS);
  const report = renderReport({ summary, runs, SCENARIOS, peers: PEERS, scenarioIds: s.scenarioIds, peerIds: s.peerIds, unavailable, meta, settings: s });
  process.stdout.write(`${report}\n`);
  if (settings.out) {
    writeFileSync(settings.out, report);
    log(`bench: report written to ${path.relative(process.cwd(), settings.out)}`);
  }
}

async function main() {
  let settings;
  try {
    settings = parseOptions(process.argv.slice(2));
  } catch (err) {
    log(`bench: ${err.message}\n`);
    process.stderr.write(HELP);
    process.exit(2);
  }
  if (settings.from) return rerender(settings);
  const started = performance.now();
  if (os.platform() !== 'linux') log('bench: warning: written for Linux (epoll, /proc); other systems are untested');
  if (settings.pin && (!which('taskset') || os.availableParallelism() < 2)) {
    log('bench: warning: taskset missing or fewer than 2 CPUs; running unpinned, so the peers and the load generator share CPUs');
    settings.pin = false;
  }
  if (!settings.pin) settings.serverCpu = settings.loadgenCpu = null;
  settings.bin = ensureLoadgen(BENCH);

  const unavailable = {};
  for (const pid of settings.peerIds) {
    const why = PEERS[pid].unavailable();
    if (why) {
      unavailable[pid] = why;
      log(`bench: ${PEERS[pid].label} unavailable: ${why}`);
    }
  }

  const runs = [];
  for (const sid of settings.scenarioIds) {
    const sc = SCENARIOS[sid];
    const eligible = settings.peerIds.filter((pid) => !PEERS[pid].kinds || PEERS[pid].kinds.includes(sc.kind));
    for (let round = 0; round < settings.rounds; round++) {
      // Alternate, and rotate the order each round so no peer always goes first.
      const order = eligible.map((_, i) => eligible[(i + round) % eligible.length]);
      for (const pid of order) {
        if (unavailable[pid]) continue;
        let rec;
        for (let attempt = 1; ; attempt++) {
          rec = await measure(settings.bin, sid, pid, round, settings, unavailable);
          rec.attempts = attempt;
          rec.disturbed = rec.ok && rec.otherLoad > MAX_OTHER_LOAD;
          if (!rec.disturbed || attempt > settings.retries) break;
          if (!settings.quiet) log(`${sid.padEnd(12)} round ${round + 1}/${settings.rounds}  ${PEERS[pid].label.padEnd(18)} other work used ${Math.round(rec.otherLoad * 100)}% of a CPU meanwhile; again`);
        }
        runs.push(rec);
        if (!settings.quiet) {
          const extra = rec.ok
            ? `${fmt(rec.value)} ${sc.unit}` +
              (Number.isFinite(rec.serverCpu) ? `  server cpu ${Math.round(rec.serverCpu * 100)}%` : '') +
              (Number.isFinite(rec.loadgenIdle) ? `  loadgen idle ${Math.round(rec.loadgenIdle * 100)}%` : '') +
              (Number.isFinite(rec.otherLoad) ? `  other load ${Math.round(rec.otherLoad * 100)}%` : '')
            : `FAILED: ${rec.error}`;
          const noisy = rec.quiet === false ? `  (machine ${Math.round(rec.busyBefore * 100)}% busy before the run)` : '';
          log(`${sid.padEnd(12)} round ${round + 1}/${settings.rounds}  ${PEERS[pid].label.padEnd(18)} ${extra}${noisy}`);
        }
      }
    }
  }

  const summary = summarize(runs, settings.scenarioIds, settings.peerIds, SCENARIOS);
  const now = new Date();
  const machine = machineInfo(ROOT);
  const meta = {
    date: now.toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
    machine,
    command: ['node', path.relative(ROOT, fileURLToPath(import.meta.url)), ...process.argv.slice(2)].join(' '),
    elapsed: (performance.now() - started) / 1000,
  };
  const publicSettings = { ...settings, bin: undefined };
  const report = renderReport({ summary, runs, SCENARIOS, peers: PEERS, scenarioIds: settings.scenarioIds, peerIds: settings.peerIds, unavailable, meta, settings: publicSettings });
  process.stdout.write(`\n${report}\n`);

  let outFile = settings.out;
  if (!outFile && !settings.smoke) {
    const dir = path.join(BENCH, 'results');
    const base = `${now.toISOString().slice(0, 10)}-${machine.host}`;
    outFile = path.join(dir, `${base}.md`);
    for (let i = 2; existsSync(outFile); i++) outFile = path.join(dir, `${base}-${i}.md`);
    // Every run's raw numbers, next to the report (not committed).
    mkdirSync(path.join(dir, 'raw'), { recursive: true });
    writeFileSync(path.join(dir, 'raw', `${path.basename(outFile, '.md')}.json`), JSON.stringify({ meta, settings: publicSettings, unavailable, runs }, null, 2));
  }
  if (outFile) {
    mkdirSync(path.dirname(outFile), { recursive: true });
    writeFileSync(outFile, report);
    log(`bench: report written to ${path.relative(process.cwd(), outFile)}`);
  }
  if (settings.json) {
    writeFileSync(settings.json, JSON.stringify({ meta, settings: publicSettings, unavailable, summary, runs }, null, 2));
  }
  // Failure of a peer that was measured is a failure of the run.
  const failed = runs.filter((r) => !r.ok);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

main().catch((err) => {
  log(`bench: ${err.stack || err.message}`);
  process.exit(1);
});
