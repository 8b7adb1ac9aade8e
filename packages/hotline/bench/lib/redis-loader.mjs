// A loader process of the pub/sub-through-Redis benchmark: opens WebSocket subscribers
// (the `ws` client for Hotline, socket.io-client with the websocket transport only for
// Socket.IO), spread round-robin over the nodes' ports, and records publish → delivery
// latency from the send time in each payload into a histogram (0.1 ms steps up to
// 100 ms, then 1 ms steps up to 60 s), which the parent merges across loaders.
// argv: KIND COUNT PORT[,PORT...]
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const [kind, countArg, portsArg] = process.argv.slice(2);
const count = Number(countArg);
const ports = (portsArg ?? '').split(',').map(Number);
const now = () => performance.timeOrigin + performance.now();
const BUCKETS = 1000 + 60_000;
const bucketOf = (ms) => (ms < 100 ? Math.max(0, Math.floor(ms * 10)) : Math.min(BUCKETS - 1, 1000 + Math.floor(ms - 100)));

let tag = '';
let hist = new Uint32Array(BUCKETS);
let received = 0;
let lastAt = 0;
const seen = new Set(); // clients that saw a message of the current tag (readiness probe)

function onData(i, text) {
  const [t, , sentAt] = text.split('|', 3);
  if (t !== tag) return;
  const at = now();
  hist[bucketOf(at - Number(sentAt))]++;
  received++;
  lastAt = at;
  seen.add(i);
}

function open(i) {
  const port = ports[i % ports.length];
  return new Promise((resolve, reject) => {
    if (kind === 'hotline') {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      ws.on('message', (data) => onData(i, data.toString()));
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    } else {
      const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
      socket.on('m', (data) => onData(i, data));
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    }
  });
}

const clients = [];
process.on('message', (msg) => {
  if (msg.type === 'tag') {
    tag = msg.tag;
    hist = new Uint32Array(BUCKETS);
    received = 0;
    seen.clear();
    process.send({ type: 'tagged' });
  } else if (msg.type === 'seen') process.send({ type: 'seen', seen: seen.size });
  else if (msg.type === 'report') {
    const sparse = [];
    for (let b = 0; b < BUCKETS; b++) if (hist[b]) sparse.push([b, hist[b]]);
    process.send({ type: 'report', received, lastAt, hist: sparse });
  } else if (msg.type === 'stop') {
    for (const c of clients) (kind === 'hotline' ? c.terminate() : c.disconnect());
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

try {
  for (let i = 0; i < count; i += 20) clients.push(...(await Promise.all(Array.from({ length: Math.min(20, count - i) }, (_, k) => open(i + k)))));
  process.send({ type: 'ready', clients: clients.length });
} catch (err) {
  process.send({ type: 'error', error: String(err?.message ?? err) });
  process.exit(1);
}
