#!/usr/bin/env node
// The soak: a Hotline server in its own process, and client processes that hold 10,000
// WebSocket connections and 2,000 HTTP sessions against it for 10 minutes, with traffic,
// slow readers and churn; the server's memory, handles and event-loop delay are sampled
// all along, and a verdict says whether it held. Run by hand (never in CI); see
// bench/README.md "Soak". `node bench/soak.mjs --help` for the flags.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { machineBusySeconds } from './lib/processes.mjs';
import { Child, killChildren } from './soak/ipc.mjs';
import { TRAFFIC_DEFAULTS, planClients, split } from './soak/plan.mjs';
import { header, passed, renderMarkdown, renderVerdict, row, verdict } from './soak/report.mjs';
import { mergeTallies, totals } from './soak/tally.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const SOAK = path.join(BENCH, 'soak');

// Raw WebSocket clients per process: 5,000 sockets and their traffic take a fraction
// of a core, and stay far below a process's open-files limit.
const WS_PER_PROCESS = 5_000;
// Sessions of the universal client per process: each makes about a request a second over
// fetch, and a process of 2,000 of them stalls for up to half a second on its own (its
// clients answer every publish at once) — for seconds on a busy machine, which is long
// enough to reuse keep-alive connections the server is closing.
const HTTP_PER_PROCESS = 700;
// ms before slow readers stop again at which the server's heap is read after a GC.
const GC_LEAD = 2_000;
// ms to wait, after the clients left, for the server to let go of everything: an HTTP
// session's record outlives it by twice sessionTimeout (90 s), and with it the sweep timer.
const DRAIN_TIMEOUT = 120_000;

const HELP = `usage: node bench/soak.mjs [options]      (npm run soak -- [options])

  --duration S      seconds to hold every client after they all connected (default 600)
  --ws N            WebSocket connections (default 10000)
  --http N          HTTP-transport sessions (default 2000)
  --every S         seconds between two samples (default 10)
  --warmup S        seconds before the first reading of the heap after a full GC
                    (default: half of --duration, at most 120); one follows every
                    slow-reader cycle (slow-pause + slow-read, 60 s), and the verdict
                    compares the last with the first
  --out DIR         where soak.json and soak.md go (default bench-results/soak-<date>)
  --ws-procs N      processes for the raw WebSocket clients (default: one per 5,000)
  --http-procs N    processes for the library clients (HTTP sessions and the
                    permessage-deflate WebSockets; default: one per 700 sessions)
  --heap-snapshots  also write the server's heap at the first and the last reading
                    (warm.heapsnapshot, end.heapsnapshot in --out; large, the server
                    stops for seconds while it writes each, and RSS stays higher
                    after: its readings then mean little)
  --client-nice N   the client processes' niceness (default 10; 0 to run them as the
                    server): with fewer cores than processes, the server gets the CPU
                    first, as it would on a machine of its own, and the clients wait
  --no-deflate      the server does not offer permessage-deflate
  --echo-every MS, --publish-every MS, --firehose-every MS, --firehose-size BYTES,
  --slow-read MS, --slow-pause MS, --churn-min MS, --churn-max MS
                    traffic (defaults in bench/soak/plan.mjs, with their reasons)

Ctrl-C ends the run early and still tears down and reports; a second Ctrl-C kills
everything at once.
`;

function parseOptions(argv) {
  const traffic = Object.keys(TRAFFIC_DEFAULTS);
  const flag = (key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string' },
      ws: { type: 'string' },
      http: { type: 'string' },
      every: { type: 'string' },
      warmup: { type: 'string' },
      out: { type: 'string' },
      'ws-procs': { type: 'string' },
      'http-procs': { type: 'string' },
      'client-nice': { type: 'string' },
      'no-deflate': { type: 'boolean', default: false },
      'heap-snapshots': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      ...Object.fromEntries(traffic.map((key) => [flag(key), { type: 'string' }])),
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const number = (name, fallback, { min = 0, integer = false } = {}) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name}: a number of at least ${min} (got ${raw})`);
    return n;
  };
  const duration = number('duration', 600, { min: 1 });
  const ws = number('ws', 10_000, { integer: true });
  const http = number('http', 2_000, { integer: true });
  const options = {
    duration,
    ws,
    http,
    every: number('every', 10, { min: 1 }),
    // Long enough for the readers that never read to be where they stay: an SSE session
    // full (its maxQueue takes the firehose seconds), a WebSocket one dropped (at the
    // server's 120 s idle timeout, counted from its opening, during the ramp).
    warmup: number('warmup', Math.min(120, duration / 2)),
    out: values.out,
    wsProcs: number('ws-procs', Math.max(1, Math.ceil(ws / WS_PER_PROCESS)), { min: 1, integer: true }),
    clientNice: number('client-nice', 10, { integer: true }),
    httpProcs: number('http-procs', Math.max(1, Math.ceil(http / HTTP_PER_PROCESS)), { min: 1, integer: true }),
    deflate: !values['no-deflate'],
    heapSnapshots: values['heap-snapshots'],
    traffic: Object.fromEntries(traffic.map((key) => [key, number(flag(key), TRAFFIC_DEFAULTS[key], { min: 1 })])),
  };
  if (options.warmup >= duration) throw new Error('--warmup must be shorter than --duration');
  return options;
}

/**
 * TcpExt ListenOverflows: connections the kernel dropped because a listener's accept queue
 * was full (they retry their SYN after 1 s, 3 s, 7 s…). Machine-wide: other listeners count.
 */
function listenOverflows() {
  try {
    const [names, values] = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const i = names.split(' ').indexOf('ListenOverflows');
    return i === -1 ? NaN : Number(values.split(' ')[i]);
  } catch {
    return NaN;
  }
}

/** Linux PSI: the share of the last 10 s during which some runnable task waited for a CPU. */
function cpuPressure() {
  try {
    const line = readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0];
    return Number(/avg10=([0-9.]+)/.exec(line)?.[1]) / 100;
  } catch {
    return NaN;
  }
}

const log = (line) => process.stdout.write(`${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/src/server/server.js')) || !existsSync(path.join(ROOT, 'dist/src/browser/client.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run soak does)');
  }
  const plan = planClients(options.ws, options.http);
  const outDir = path.resolve(ROOT, options.out ?? path.join('bench-results', `soak-${stamp()}`));
  mkdirSync(outDir, { recursive: true });
  const rawTotal = Object.values(plan.raw).reduce((a, b) => a + b, 0);
  const startedAt = new Date().toISOString();
  const run = {
    startedAt,
    command: `node bench/soak.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
    machineCpus: os.cpus().length,
    options,
    plan,
    duration: options.duration,
    rampSeconds: 0,
    steady: [],
    clientSamples: [],
    gc: {},
    gcSeries: [],
    // what the server still held, every 2 s after the clients left
    drain: [],
    clients: { kinds: {}, notes: [] },
    drainedIn: null,
    interrupted: false,
    crashed: null,
  };

  // Ctrl-C: the first ends the run early (it still tears down and reports), the second
  // kills everything at once.
  let stop = null;
  const stopped = new Promise((resolve) => (stop = () => resolve('stopped')));
  let tearingDown = false;
  let interrupts = 0;
  const onSignal = (signal) => {
    if (++interrupts > 1) {
      killChildren();
      process.stderr.write(`\nsoak: ${signal} again, every process killed\n`);
      process.exit(130);
    }
    process.stderr.write(`\nsoak: ${signal}: ending the run early (again to kill everything)\n`);
    run.interrupted = true;
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const server = new Child('server', path.join(SOAK, 'server.mjs'), [JSON.stringify({ ...options.traffic, deflate: options.deflate })], { nodeArgs: ['--expose-gc'] });
  const ready = await server.ready;
  // The server holds every connection: it needs a descriptor for each, and some room.
  const needed = options.ws + 2 * options.http + 200;
  if (ready.nofile < needed) {
    throw new Error(`the server may open ${ready.nofile} files, and needs about ${needed}: raise the hard limit (ulimit -Hn) or lower --ws/--http`);
  }
  log(`server: pid ${ready.pid}, port ${ready.port}, open-files limit ${ready.nofile}`);
  await sleep(1000);
  run.gc.baseline = await server.request('gc-sample');

  const share = (count, parts, i) => split(count, parts)[i];
  // Slow readers stop and read in step, on a clock every client process shares: stopped
  // for slowPause from `epoch + k × cycle`, reading for slowRead after it. The readings
  // after a GC are taken GC_LEAD before each stop, when every slow reader has read what
  // piled up: what they hold by right is then at its least, and the same every time, so
  // that it cannot pass for a leak (an SSE session holds all its reader has not acknowledged).
  const epoch = Date.now();
  const cycle = options.traffic.slowPause + options.traffic.slowRead;
  const gcReadingAfter = (t) => epoch + Math.ceil((t + GC_LEAD - epoch) / cycle) * cycle - GC_LEAD;
  const traffic = { ...options.traffic, epoch };
  const clients = [];
  const starts = [];
  let base = 0;
  for (let i = 0; i < options.wsProcs; i++) {
    const kinds = {};
    for (const [kind, count] of Object.entries(plan.raw)) kinds[kind] = share(count, options.wsProcs, i);
    const child = new Child(`ws-clients ${i + 1}`, path.join(SOAK, 'ws-clients.mjs'), [], { nice: options.clientNice });
    clients.push(child);
    starts.push({ child, op: { port: ready.port, kinds, traffic, base } });
    base += 1_000_000;
  }
  for (let i = 0, n = options.httpProcs; i < n; i++) {
    const http = {};
    for (const [transport, kinds] of Object.entries(plan.http)) {
      http[transport] = Object.fromEntries(Object.entries(kinds).map(([kind, count]) => [kind, share(count, n, i)]));
    }
    const libPlan = { http, sseSlow: share(plan.sseSlow, n, i), sseStalled: share(plan.sseStalled, n, i), deflate: share(plan.deflate, n, i) };
    const child = new Child(`lib-clients ${i + 1}`, path.join(SOAK, 'lib-clients.mjs'), [], { nice: options.clientNice });
    clients.push(child);
    starts.push({ child, op: { port: ready.port, plan: libPlan, traffic, base } });
    base += 1_000_000;
  }

  // Any process that dies ends the run.
  const crashed = new Promise((resolve) => {
    for (const child of [server, ...clients]) {
      child.exit.then((e) => {
        if (!tearingDown) resolve(`${child.name} exited (${e.code ?? e.signal}): ${child.tail()}`);
      });
    }
  });
  crashed.then((why) => {
    run.crashed = why;
    process.stderr.write(`\nsoak: ${why}\n`);
    stop();
  });

  const rampStart = Date.now();
  const overflowsBefore = listenOverflows();
  try {
    for (const { child } of starts) {
      const r = await Promise.race([child.ready, stopped]);
      if (r === 'stopped') break;
      if (r.nofile < 5000) process.stderr.write(`soak: ${child.name} may open only ${r.nofile} files\n`);
    }
    log(`connecting ${options.ws.toLocaleString('en-US')} WebSocket clients and ${options.http.toLocaleString('en-US')} HTTP sessions…`);
    const ramp = await Promise.race([
      Promise.all(starts.map(({ child, op }) => child.request('start', op, 300_000).then((r) => ({ name: child.name, ...r })))),
      stopped,
    ]);
    run.rampSeconds = (Date.now() - rampStart) / 1000;
    run.rampListenOverflows = listenOverflows() - overflowsBefore;
    let overflows = listenOverflows();
    if (ramp !== 'stopped') {
      for (const r of ramp) log(`  ${r.name}: ${r.opened.toLocaleString('en-US')} open, ${r.failed} failed`);
      log(`ramp: ${run.rampSeconds.toFixed(1)} s`);
    }

    // The steady phase: a sample every --every seconds, and a reading after a full GC
    // once per slow-reader cycle, from the end of warm-up on.
    const t0 = Date.now();
    const end = t0 + options.duration * 1000;
    const tableLines = [header()];
    log('');
    log(tableLines[0]);
    let previous = await server.request('sample');
    // The CPU the whole machine used, to tell what the soak's processes did not use.
    let busy = { at: Date.now(), seconds: machineBusySeconds(), self: process.cpuUsage() };
    // Each client process's last tally (cumulative), kept if one misses an answer.
    const perProcess = clients.map(() => null);
    let nextSample = t0 + options.every * 1000;
    let nextGc = gcReadingAfter(t0 + options.warmup * 1000);
    while (!run.interrupted && !run.crashed) {
      const wake = Math.min(nextSample, nextGc, end);
      if ((await Promise.race([sleep(Math.max(0, wake - Date.now())), stopped])) === 'stopped') break;
      if (wake === nextGc && nextGc <= end) {
        const reading = await server.request('gc-sample');
        run.gcSeries.push(reading);
        const first = run.gcSeries.length === 1;
        nextGc += cycle;
        if (options.heapSnapshots && (first || nextGc > end)) {
          await server.request('heap-snapshot', { path: path.join(outDir, first ? 'warm.heapsnapshot' : 'end.heapsnapshot') }, 300_000);
        }
        continue;
      }
      const [sample, ...tallies] = await Promise.all([server.request('sample'), ...clients.map((c) => c.request('stats', {}, 20_000).catch(() => null))]);
      tallies.forEach((t, i) => (perProcess[i] = t ?? perProcess[i]));
      const merged = mergeTallies(perProcess);
      const now = { at: Date.now(), seconds: machineBusySeconds(), self: process.cpuUsage() };
      const self = process.cpuUsage(busy.self);
      const ours = sample.cpu + merged.cpu + (self.user + self.system) / 1e3 / Math.max(1, now.at - busy.at);
      sample.otherLoad = Math.max(0, (now.seconds - busy.seconds) / Math.max(0.001, (now.at - busy.at) / 1000) - ours);
      sample.clientCpu = merged.cpu;
      sample.clientLoopDelay = merged.eldMax;
      sample.cpuPressure = cpuPressure();
      sample.listenOverflows = listenOverflows() - overflows;
      overflows += sample.listenOverflows;
      busy = now;
      run.steady.push(sample);
      run.clientSamples.push({ at: sample.at, totals: totals(merged) });
      run.clients = merged;
      const line = row(sample, previous, merged, t0);
      tableLines.push(line);
      log(line);
      previous = sample;
      if (wake === end) break;
      nextSample += options.every * 1000;
    }
    run.duration = Math.round((Date.now() - t0) / 1000);
    run.gc.warm = run.gcSeries[0];
    run.gc.end = run.gcSeries.length > 1 ? run.gcSeries[run.gcSeries.length - 1] : undefined;

    // The clients leave; the server must let go of everything they held.
    log('');
    log('clients leaving…');
    const leaveStart = Date.now();
    const left = await Promise.all(clients.map((c) => c.request('leave', {}, 120_000).catch((e) => (process.stderr.write(`soak: ${e.message}\n`), null))));
    left.forEach((t, i) => (perProcess[i] = t ?? perProcess[i]));
    run.clients = mergeTallies(perProcess);
    tearingDown = true;
    await Promise.all(clients.map((c) => c.stop()));
    log(`clients gone in ${((Date.now() - leaveStart) / 1000).toFixed(1)} s; waiting for the server to let go…`);
    if (!run.crashed) {
      const baseline = run.gc.baseline;
      const drainStart = Date.now();
      for (;;) {
        const s = await server.request('gc-sample');
        const extra = Object.entries(s.handles).some(([type, n]) => n > (baseline.handles[type] ?? 0));
        run.gc.after = s;
        run.drain.push({ after: (Date.now() - drainStart) / 1000, connections: s.connections, sessions: s.sessions, open: s.open, fds: s.fds, handles: s.handles });
        if ((s.connections === 0 && s.sessions === 0 && !extra && s.fds <= baseline.fds) || Date.now() - drainStart > DRAIN_TIMEOUT || run.interrupted) break;
        await sleep(2_000);
      }
      run.drainedIn = (Date.now() - drainStart) / 1000;
      log(`server settled after ${run.drainedIn.toFixed(0)} s`);
    }
    run.serverOutput = server.output.trim();
    return finish(run, tableLines, outDir);
  } finally {
    tearingDown = true;
    await Promise.all(clients.map((c) => c.stop()));
    await server.request('close', {}, 10_000).catch(() => {});
    await server.stop();
  }
}

function finish(run, tableLines, dir) {
  const checks = verdict(run);
  writeFileSync(path.join(dir, 'soak.json'), JSON.stringify({ ...run, verdict: checks }, null, 2));
  writeFileSync(path.join(dir, 'soak.md'), renderMarkdown(run, checks, tableLines));
  log('');
  log(renderVerdict(checks));
  log('');
  log(`${passed(checks) ? 'HELD' : 'DID NOT HOLD'} — ${path.relative(process.cwd(), dir) || dir}/soak.md, soak.json`);
  return passed(checks) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`soak: ${error.stack ?? error}\n`);
    killChildren();
    process.exit(2);
  },
);
