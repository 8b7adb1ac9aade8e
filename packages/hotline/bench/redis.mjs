// Pub/sub through Redis: Hotline (`Server` + `RedisEngine`) against Socket.IO 4 with
// @socket.io/redis-adapter, on 1, 2 and 3 nodes (each a process of its own), with the
// subscribers in two loader processes and one Redis of the benchmark's own. One node
// publishes at a fixed rate; the loaders measure publish → delivery latency from the send
// time in the payload. Libraries alternate within each node count, in rotated order.
// Run by hand, never in CI:  node bench/redis.mjs [--smoke] [--subs N] [--rate R] [--seconds S] [--rounds K] [--nodes 1,2,3]
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { freePort, sleep, withTimeout, cpuOf } from './lib/processes.mjs';
import { startRedis, statsDelta } from './lib/redis-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  return v;
};
const smoke = flag('smoke');
const num = (name, dflt) => {
  const v = Number(opt(name, dflt));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const settings = {
  smoke,
  subs: num('subs', smoke ? 30 : 300),
  rate: num('rate', smoke ? 100 : 500),
  seconds: num('seconds', smoke ? 1 : 10),
  rounds: num('rounds', 1),
  size: num('size', 64),
  nodes: opt('nodes', '1,2,3').split(',').map(Number),
  libs: opt('libs', 'hotline,socketio').split(','),
};
for (const n of settings.nodes) if (![1, 2, 3].includes(n)) throw new Error(`--nodes: ${n} is not 1, 2 or 3`);
for (const l of settings.libs) if (!['hotline', 'socketio'].includes(l)) throw new Error(`--libs: ${l} is not hotline or socketio`);
const LABEL = { hotline: 'Hotline + RedisEngine', socketio: 'Socket.IO 4 + redis-adapter' };

const live = new Set();
const killAll = () => { for (const c of live) try { c.kill('SIGKILL'); } catch {} live.clear(); };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

/** A child with IPC; `next(type)` waits for its next message of that type (an `error` message rejects). */
function child(file, args) {
  const c = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(c);
  const waiters = [];
  c.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type || m.type === 'error');
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  c.on('exit', () => { live.delete(c); for (const w of waiters.splice(0)) w.resolve({ type: 'error', error: 'exited' }); });
  c.next = (type, ms = 30_000) => withTimeout(new Promise((resolve) => waiters.push({ type, resolve })), ms, `${path.basename(file)} ${type}`).then((m) => {
    if (m.type === 'error') throw new Error(`${path.basename(file)}: ${m.error}`);
    return m;
  });
  c.ask = (msg, type, ms) => { const p = c.next(type, ms); c.send(msg); return p; };
  return c;
}

function percentile(hist, total, q) {
  let acc = 0;
  const want = Math.ceil(total * q);
  for (const [b, n] of hist) {
    acc += n;
    if (acc >= want) return b < 1000 ? (b + 1) / 10 : b - 1000 + 101; // upper edge of the bucket
  }
  return NaN;
}

async function measure(redis, lib, nodeCount, round) {
  const ports = [];
  const nodes = [];
  const loaders = [];
  try {
    for (let i = 0; i < nodeCount; i++) {
      const port = await freePort();
      ports.push(port);
      const n = child(path.join(here, 'servers/redis-node.mjs'), [lib, redis.url, String(port)]);
      nodes.push(n);
      await n.next('ready');
    }
    const perLoader = [Math.ceil(settings.subs / 2), Math.floor(settings.subs / 2)];
    for (const count of perLoader) {
      const l = child(path.join(here, 'lib/redis-loader.mjs'), [lib, String(count), ports.join(',')]);
      loaders.push(l);
    }
    await Promise.all(loaders.map((l) => l.next('ready', 60_000)));
    // Readiness: probes until every subscriber on every node has seen one (the nodes' SUBSCRIBE reached Redis).
    await Promise.all(loaders.map((l) => l.ask({ type: 'tag', tag: 'probe' }, 'tagged')));
    for (let tries = 0; ; tries++) {
      await nodes[0].ask({ type: 'publish', tag: 'probe', rate: 1000, count: 1, size: 16 }, 'published');
      await sleep(100);
      const seen = (await Promise.all(loaders.map((l) => l.ask({ type: 'seen' }, 'seen')))).reduce((a, m) => a + m.seen, 0);
      if (seen === settings.subs) break;
      if (tries > 100) throw new Error(`only ${seen} of ${settings.subs} subscribers receive publishes`);
    }
    const tag = `r${round}`;
    await Promise.all(loaders.map((l) => l.ask({ type: 'tag', tag }, 'tagged')));
    await sleep(200);
    const pids = { nodes: nodes.map((n) => n.pid), loaders: loaders.map((l) => l.pid), redis: [redis.child.pid] };
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((a, p) => a + cpuOf(p), 0)]));
    const before = await redis.commandStats();
    const t0 = performance.timeOrigin + performance.now();
    const count = Math.round(settings.rate * settings.seconds);
    const pub = await nodes[0].ask({ type: 'publish', tag, rate: settings.rate, count, size: settings.size }, 'published', settings.seconds * 1000 + 60_000);
    // Deliveries settle: wait until the count stops growing (or all arrived), at most 30 s.
    const expected = count * settings.subs;
    let reports;
    for (let last = -1, t = Date.now(); ; ) {
      await sleep(250);
      reports = await Promise.all(loaders.map((l) => l.ask({ type: 'report' }, 'report')));
      const got = reports.reduce((a, r) => a + r.received, 0);
      if (got >= expected || got === last || Date.now() - t > 30_000) break;
      last = got;
    }
    const after = await redis.commandStats();
    const wall = (performance.timeOrigin + performance.now() - t0) / 1000;
    const cpu = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, (ps.reduce((a, p) => a + cpuOf(p), 0) - cpu0[k]) / wall]));
    const hist = new Map();
    for (const r of reports) for (const [b, n] of r.hist) hist.set(b, (hist.get(b) ?? 0) + n);
    const merged = [...hist.entries()].sort((a, b) => a[0] - b[0]);
    const received = reports.reduce((a, r) => a + r.received, 0);
    const lastAt = Math.max(...reports.map((r) => r.lastAt));
    const commands = statsDelta(before, after);
    const totalCommands = Object.values(commands).reduce((a, b) => a + b, 0);
    return {
      lib, nodes: nodeCount, round, ok: true, published: pub.sent, publishSeconds: pub.seconds, expected, received,
      p50: percentile(merged, received, 0.5), p99: percentile(merged, received, 0.99), max: percentile(merged, received, 1),
      deliveriesPerSecond: received / ((lastAt - t0) / 1000),
      redisCommands: totalCommands, redisCommandsPerPublish: totalCommands / pub.sent, commands,
      cpuShare: cpu, measuredSeconds: wall,
    };
  } finally {
    for (const c of [...loaders, ...nodes]) { try { c.send({ type: 'stop' }); } catch {} }
    await sleep(300);
    for (const c of [...loaders, ...nodes]) { try { c.kill('SIGKILL'); } catch {} }
  }
}

const f = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const med = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };

const started = Date.now();
const redis = await startRedis(await freePort());
const runs = [];
try {
  for (let round = 0; round < settings.rounds; round++) {
    for (const n of settings.nodes) {
      const order = round % 2 ? [...settings.libs].reverse() : settings.libs;
      for (const lib of order) {
        try {
          const r = await measure(redis, lib, n, round);
          runs.push(r);
          console.error(`${LABEL[lib]}, ${n} node(s): p50 ${f(r.p50)} ms, p99 ${f(r.p99)} ms, ${Math.round(r.deliveriesPerSecond)} deliveries/s, ${r.received}/${r.expected}, ${f(r.redisCommandsPerPublish, 2)} Redis commands/publish`);
        } catch (err) {
          runs.push({ lib, nodes: n, round, ok: false, error: String(err?.message ?? err) });
          console.error(`${LABEL[lib]}, ${n} node(s): failed: ${err?.message ?? err}`);
        }
      }
    }
  }
} finally {
  redis.stop();
}

const L = [];
L.push('| nodes | library | p50 ms | p99 ms | deliveries/s | delivered | Redis commands/publish |');
L.push('|---:|---|---:|---:|---:|---:|---:|');
const summary = {};
for (const n of settings.nodes) {
  for (const lib of settings.libs) {
    const ok = runs.filter((r) => r.ok && r.lib === lib && r.nodes === n);
    if (!ok.length) { L.push(`| ${n} | ${LABEL[lib]} | failed | | | | |`); continue; }
    const s = { p50: med(ok.map((r) => r.p50)), p99: med(ok.map((r) => r.p99)), dps: med(ok.map((r) => r.deliveriesPerSecond)), share: med(ok.map((r) => r.received / r.expected)), cpp: med(ok.map((r) => r.redisCommandsPerPublish)) };
    (summary[n] ??= {})[lib] = s;
    L.push(`| ${n} | ${LABEL[lib]} | ${f(s.p50)} | ${f(s.p99)} | ${Math.round(s.dps).toLocaleString('en-US')} | ${(s.share * 100).toFixed(1)}% | ${f(s.cpp, 2)} |`);
  }
}
L.push('');
L.push('| nodes | p50 Socket.IO ÷ Hotline | p99 Socket.IO ÷ Hotline | deliveries/s Hotline ÷ Socket.IO |');
L.push('|---:|---:|---:|---:|');
for (const n of settings.nodes) {
  const h = summary[n]?.hotline, s = summary[n]?.socketio;
  if (h && s) L.push(`| ${n} | ${f(s.p50 / h.p50, 2)}x | ${f(s.p99 / h.p99, 2)}x | ${f(h.dps / s.dps, 2)}x |`);
}
const table = L.join('\n');
console.log(`\n${settings.smoke ? 'SMOKE MODE (numbers mean nothing)\n' : ''}${settings.subs} subscribers, ${settings.rate} publishes/s for ${settings.seconds} s, ${settings.size} B, ${settings.rounds} round(s), ${Math.round((Date.now() - started) / 1000)} s\n\n${table}`);

let redisVersion = 'unknown';
try { redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim(); } catch {}
const out = path.join(here, 'results', `${new Date().toISOString().slice(0, 10)}-redis${settings.smoke ? '-smoke' : ''}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), command: `node bench/redis.mjs ${argv.join(' ')}`.trim(), machine: { nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, redis: redisVersion }, settings, runs, table }, null, 2) + '\n');
console.log(`\nraw: ${path.relative(process.cwd(), out)}`);
process.exit(runs.some((r) => !r.ok) ? 1 : 0);
