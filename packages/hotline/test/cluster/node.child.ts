/**
 * One Hotline node of a test cluster, in its own process so a test can `kill -9` it: a
 * server with every transport and a `RedisEngine`, whose route `/feed` subscribes each
 * connection to the topic `feed`. argv: Redis URL, port. It advertises
 * `http://127.0.0.1:<port>` to the other nodes, for the requests of its sessions. Prints its port.
 * It also serves a page at `/` that loads the browser client (`/hotline.js`, served by the
 * transports) as `window.hotline`, for the browser clients of the cluster.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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
const PAGE = `<!doctype html><meta charset="utf-8"><title>hotline cluster</title>
<script type="module">import * as hotline from '/hotline.js'; window.hotline = hotline;</script>`;
function page(request: IncomingMessage, response: ServerResponse): void {
  const found = request.url === '/';
  response.writeHead(found ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
  response.end(found ? PAGE : '');
}
const address = await server.listen(Number(port), '127.0.0.1', page);
process.stdout.write(`${address.port}\n`);
process.on('SIGTERM', () => void server.close({ timeout: 200 }).then(() => process.exit(0)));
