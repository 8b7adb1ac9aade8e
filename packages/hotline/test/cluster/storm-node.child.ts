/**
 * One node of the reconnect-storm test, in its own process so that the test can `kill -9`
 * it: a WebSocket server with a `RedisEngine`, whose route `/storm` subscribes each
 * connection to every topic named in argv. argv: Redis URL, port, topics (comma-separated).
 * Prints its port; answers an IPC message `stats` with what its engine did.
 */
import { Server } from '../../src/server/server.js';
import { RedisEngine } from '../../src/redis/index.js';
import type { Publication } from '../../src/websocket/publication.js';

const [url, port, topics] = process.argv.slice(2) as [string, string, string];
const engine = new RedisEngine<Publication>({ url });
await engine.connect();
const server = new Server({ engine, closeTimeout: 400, advertise: `http://127.0.0.1:${port}` });
server.route('/storm', {
  open: (peer) => {
    for (const topic of topics.split(',')) peer.subscribe(topic);
  },
});
process.on('warning', () => undefined); // engine warnings are expected while a peer node dies
const address = await server.listen(Number(port), '127.0.0.1');
process.stdout.write(`${address.port}\n`);
process.on('message', (message) => {
  if (message === 'stats') process.send!({ recoveryReads: engine.recoveryReads, peers: server.connections });
});
