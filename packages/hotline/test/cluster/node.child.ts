/**
 * One Hotline node of a test cluster, in its own process so a test can `kill -9` it: a
 * server with every transport and a `RedisEngine`, whose route `/feed` subscribes each
 * connection to the topic `feed`. argv: Redis URL, port. It advertises
 * `http://127.0.0.1:<port>` to the other nodes, for the requests of its sessions. Prints its port.
 */
import { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import { RedisEngine } from '../../src/redis/index.js';
import type { Publication } from '../../src/websocket/publication.js';

const [url, port] = process.argv.slice(2) as [string, string];
const engine = new RedisEngine<Publication>({ url });
await engine.connect();
const server = new Server({ engine, closeTimeout: 400, advertise: `http://127.0.0.1:${port}` });
server.route('/feed', { open: (peer) => peer.subscribe('feed') });
enableHttpTransports(server, { hold: 1000, interval: 40, heartbeat: 500, sessionTimeout: 3000, ackDelay: 100 });
process.on('warning', () => undefined); // engine warnings are expected while Redis or a peer node is down
const address = await server.listen(Number(port), '127.0.0.1');
process.stdout.write(`${address.port}\n`);
process.on('SIGTERM', () => void server.close({ timeout: 200 }).then(() => process.exit(0)));
