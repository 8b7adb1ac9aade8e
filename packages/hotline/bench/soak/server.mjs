// The soak's server, in a process of its own: Hotline's `Server` with the HTTP transports,
// as `hotline echo --deflate` builds it (every option at its default), serving
//   /echo                 every message back to its sender
//   /pubsub?topic=NAME    subscribes the peer to NAME; each message it sends goes to
//                         every other subscriber of NAME
//   *                     echo, as `hotline echo` does on every path
// and publishing on its own clock: a small message to each light topic every
// `publishEvery` ms, a large one (`firehoseSize`) to the firehose every `firehoseEvery` ms.
//
// It answers `sample` (memory, handles, descriptors, connections, event-loop delay, CPU,
// message counts) and `gc-sample` (the same after a full GC) over IPC; `close` shuts it
// down gracefully. Run with --expose-gc.
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

import { Server } from '../../dist/src/server/server.js';
import { enableHttpTransports } from '../../dist/src/transports/http-transports.js';
import { UpgradeRejection } from '../../dist/src/types.js';
import { announceReady, openFilesLimit, serveRequests } from './ipc.mjs';
import { ECHO_PATH, FIREHOSE, PUBSUB_PATH, TOPICS, TRAFFIC_DEFAULTS, isTopic, topicName } from './plan.mjs';
import { firehoseText, topicText } from './traffic.mjs';

const config = { ...TRAFFIC_DEFAULTS, deflate: true, ...JSON.parse(process.argv[2] ?? '{}') };

// Node makes process.stderr (a pipe handle here) the first time any socket is destroyed
// (net.Socket's _destroy compares itself with it): made now, it is part of the baseline
// instead of looking like a handle the clients left behind.
void process.stdout;
void process.stderr;

/** Counters since start; the soak takes differences. */
const counts = {
  opened: {},
  closed: {},
  received: 0,
  echo: { sent: 0, buffered: 0, dropped: 0 },
  relayed: 0,
  publishes: 0,
  deliveries: 0,
  rejected: 0,
  // WebSocket peers that negotiated permessage-deflate
  deflated: 0,
  errors: {},
};

function bump(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

const server = new Server({ perMessageDeflate: config.deflate !== false });

/** Shared per-route data: an echo peer holds no state of its own. */
const ECHO = Object.freeze({ topic: '' });

const common = {
  open(peer) {
    bump(counts.opened, peer.transport);
    if (peer.extensions.startsWith('permessage-deflate')) counts.deflated++;
    if (peer.data.topic !== '') peer.subscribe(peer.data.topic);
  },
  close(peer, code) {
    bump((counts.closed[peer.transport] ??= {}), code);
  },
  error(peer, error) {
    bump(counts.errors, error?.code ?? error?.name ?? 'unknown');
  },
};

const echoHandler = {
  ...common,
  upgrade() {
    return { data: ECHO };
  },
  message(peer, data, isBinary) {
    counts.received++;
    counts.echo[peer.send(data, isBinary)]++;
  },
};

/** One frozen data object per topic, shared by its subscribers. */
const topicData = new Map();

const pubsubHandler = {
  ...common,
  upgrade(request) {
    const topic = request.query.get('topic') ?? '';
    if (!isTopic(topic)) {
      counts.rejected++;
      throw new UpgradeRejection(400, `unknown topic ${JSON.stringify(topic)}`);
    }
    let data = topicData.get(topic);
    if (data === undefined) topicData.set(topic, (data = Object.freeze({ topic })));
    return { data };
  },
  message(peer, data, isBinary) {
    counts.received++;
    counts.relayed++;
    counts.deliveries += server.publish(peer.data.topic, data, isBinary, { except: peer });
  },
};

server.route(ECHO_PATH, echoHandler);
server.route(PUBSUB_PATH, pubsubHandler);
server.route('*', echoHandler);
// The soak's clients all come from 127.0.0.1 and name themselves in a header: the limits
// per client apply to each of them, as they would to distinct addresses.
const transports = enableHttpTransports(server, {
  sessionKey: (request) => request.headers['x-soak-client'] ?? request.socket.remoteAddress ?? '',
});
const address = await server.listen(0, '127.0.0.1');

let seq = 0;
const publisher = setInterval(() => {
  seq++;
  const text = topicText(seq);
  for (let i = 0; i < TOPICS; i++) {
    counts.publishes++;
    counts.deliveries += server.publish(topicName(i), text);
  }
}, config.publishEvery);

let firehoseSeq = 0;
const firehose = setInterval(() => {
  counts.publishes++;
  counts.deliveries += server.publish(FIREHOSE, firehoseText(++firehoseSeq, config.firehoseSize));
}, config.firehoseEvery);

// ---- Sampling -------------------------------------------------------------------------------

// ms: the delays that matter here are tens of milliseconds and more, and a coarse timer
// costs the server nothing.
const LOOP_DELAY_RESOLUTION = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION });
loopDelay.enable();
let lastCpu = process.cpuUsage();
let lastAt = performance.now();

function handles() {
  const byType = {};
  for (const type of process.getActiveResourcesInfo()) bump(byType, type);
  return byType;
}

function descriptors() {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return NaN;
  }
}

function openByTransport() {
  const open = {};
  for (const [transport, n] of Object.entries(counts.opened)) {
    const closed = Object.values(counts.closed[transport] ?? {}).reduce((a, b) => a + b, 0);
    open[transport] = n - closed;
  }
  return open;
}

/**
 * Work the soak asked for (a forced GC, a heap snapshot) is not the server's own: the CPU
 * and the event-loop delay it caused are left out of the next sample (the histogram's
 * timer is let run once, late, before it is reset).
 */
async function leaveOutOfSamples() {
  await new Promise((resolve) => setTimeout(resolve, 3 * LOOP_DELAY_RESOLUTION));
  loopDelay.reset();
  lastCpu = process.cpuUsage();
  lastAt = performance.now();
}

/** What the server holds now. */
function state() {
  return {
    at: Date.now(),
    memory: process.memoryUsage(),
    handles: handles(),
    fds: descriptors(),
    connections: server.connections,
    sessions: transports.size,
    open: openByTransport(),
    outbound: { used: server.outbound.used, evictions: server.outbound.evictions, refusals: server.outbound.refusals },
    counts: structuredClone(counts),
  };
}

/** The state, with the CPU share and the event-loop delay since the previous sample. */
function sample() {
  const now = performance.now();
  const cpu = process.cpuUsage(lastCpu);
  const elapsed = now - lastAt;
  lastCpu = process.cpuUsage();
  lastAt = now;
  const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : 0);
  // The histogram records the time between two of its timer's turns: the delay is what
  // exceeds the resolution.
  const delay = (ns) => Math.max(0, ms(ns) - LOOP_DELAY_RESOLUTION);
  const eld = { p50: delay(loopDelay.percentile(50)), p99: delay(loopDelay.percentile(99)), max: delay(loopDelay.max) };
  loopDelay.reset();
  return { ...state(), eld, cpu: elapsed > 0 ? (cpu.user + cpu.system) / 1000 / elapsed : 0 };
}

serveRequests({
  sample,
  /** Memory, handles and connections after a full GC. */
  async 'gc-sample'() {
    globalThis.gc?.();
    globalThis.gc?.();
    const result = { ...state(), gc: typeof globalThis.gc === 'function' };
    await leaveOutOfSamples();
    return result;
  },
  /**
   * v8's heap snapshot, for finding what grows (Chrome DevTools, Memory tab, comparison).
   * Writing it stops the server for seconds, and leaves RSS higher than it found it.
   */
  async 'heap-snapshot'({ path }) {
    const written = writeHeapSnapshot(path);
    await leaveOutOfSamples();
    return { path: written };
  },
  async close() {
    clearInterval(publisher);
    clearInterval(firehose);
    await server.close({ timeout: 2000 });
    setImmediate(() => process.exit(0));
    return {};
  },
});

process.on('SIGTERM', async () => {
  clearInterval(publisher);
  clearInterval(firehose);
  await server.close({ timeout: 2000 });
  process.exit(0);
});

announceReady({ port: address.port, nofile: await openFilesLimit(), pid: process.pid });
