// One node of the pub/sub-through-Redis benchmark, in a process of its own: a Hotline
// `Server` with its own `RedisEngine`, or a Socket.IO 4 server with the Redis adapter.
// Every WebSocket client joins topic `t`. Over IPC the parent asks the node to publish
// `count` messages at `rate` per second, each carrying its send time, so a loader on the
// same machine clock can measure publish → delivery latency.
// argv: KIND (hotline | socketio) REDIS_URL PORT
import http from 'node:http';

const [kind, url, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!['hotline', 'socketio'].includes(kind) || !url || !Number.isInteger(port)) {
  console.error('usage: redis-node.mjs hotline|socketio REDIS_URL PORT');
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
let publish;
let shutdown;

if (kind === 'hotline') {
  const { Server } = await import('../../dist/src/index.js');
  const { RedisEngine } = await import('../../dist/src/redis/index.js');
  const engine = new RedisEngine({ url });
  await engine.connect();
  // No permessage-deflate: Socket.IO does not compress by default either.
  const server = new Server({ engine, perMessageDeflate: false });
  server.route('/', { open(peer) { peer.subscribe('t'); } });
  await server.listen(port, '127.0.0.1');
  publish = (data) => server.publish('t', data);
  shutdown = async () => { await server.close({ timeout: 200 }); await engine.close(); };
} else {
  const { Server } = await import('socket.io');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const { createClient } = await import('redis');
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], adapter: createAdapter(pub, sub) });
  io.on('connection', (socket) => socket.join('t'));
  await new Promise((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  publish = (data) => io.to('t').emit('m', data);
  shutdown = async () => { io.close(); await Promise.allSettled([pub.quit(), sub.quit()]); };
}

/** Publishes `count` messages at `rate`/s, catching up on timer lateness, never bursting ahead. */
function run({ tag, rate, count, size }) {
  const pad = 'x'.repeat(Math.max(0, size - 40));
  return new Promise((resolve) => {
    const start = now();
    let sent = 0;
    const tick = () => {
      const due = Math.min(count, Math.floor(((now() - start) / 1000) * rate) + 1);
      while (sent < due) publish(`${tag}|${sent++}|${now()}|${pad}`);
      if (sent >= count) {
        clearInterval(timer);
        resolve({ sent, seconds: (now() - start) / 1000 });
      }
    };
    const timer = setInterval(tick, 2);
    tick();
  });
}

process.on('message', async (msg) => {
  if (msg.type === 'publish') process.send({ type: 'published', ...(await run(msg)) });
  else if (msg.type === 'stop') {
    await Promise.race([shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
