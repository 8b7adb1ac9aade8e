/**
 * One node of the cluster lab, in a process of its own so that the page can kill it
 * (SIGKILL) like a crash: a Hotline server with every streaming transport and a
 * `RedisEngine`, listening on 127.0.0.1 only (the parent's balancer is its only client),
 * advertised to the other nodes for the requests of its HTTP sessions. Its feed route
 * subscribes every client to the one topic and first tells it which node serves it.
 * It reports to the parent over IPC: listening, then its counts four times a second.
 *
 * argv: Redis URL, port, node index.
 */
import type { IncomingMessage } from 'node:http';
import { Server, enableHttpTransports } from 'hotline';
import { RedisEngine } from 'hotline/redis';
import { FEED_PATH, FEED_TOPIC, type NodeHello, type NodeReport } from './cluster-protocol.js';
import { DeliveryCount } from './delivery-count.js';

const [url, portText, indexText] = process.argv.slice(2) as [string, string, string];
const port = Number(portText);
const index = Number(indexText);
const report = (message: NodeReport) => process.send?.(message);

// Warnings are expected while a neighbour node is down (its sessions cannot be reached);
// the page shows what matters. An exit of the parent ends this node too.
process.on('warning', () => undefined);
process.on('disconnect', () => process.exit(0));

const engine = new RedisEngine({ url, commandTimeout: 2000 });
await engine.connect();
// Before the server binds the engine: the count sits between the two.
const count = new DeliveryCount(engine, (topic) => server.subscriberCount(topic));
const server = new Server({ engine, closeTimeout: 400, advertise: `http://127.0.0.1:${port}` });
let clients = 0;
server.route(FEED_PATH, {
  open(peer) {
    clients++;
    const hello: NodeHello = { node: index };
    peer.send(JSON.stringify(hello));
    peer.subscribe(FEED_TOPIC);
  },
  close() {
    clients--;
  },
});
enableHttpTransports(server, {
  transports: ['sse', 'long-polling', 'polling'],
  // Short: a client whose node went away finds out, and moves, within seconds.
  hold: 10_000,
  heartbeat: 5_000,
  sessionTimeout: 20_000,
  // Every request comes through the parent's balancer, which names the client it came from.
  sessionKey: (request: IncomingMessage) => String(request.headers['x-forwarded-for'] ?? request.socket.remoteAddress ?? ''),
});
const address = await server.listen(port, '127.0.0.1');
report({ type: 'listening', port: address.port });
setInterval(() => {
  count.settle();
  report({ type: 'stats', clients, delivered: count.delivered, replayed: count.replayed, recovered: count.recovered, unrecovered: count.unrecovered });
}, 250).unref();
process.on('SIGTERM', () => void server.close({ timeout: 300 }).then(() => process.exit(0)));
