/** Runs the Express example: `PORT=3000 HOST=127.0.0.1 node dist/express/main.js`. */
import { start } from './server.js';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
// Only this machine by default: HOST=0.0.0.0 opens it to the network.
const app = await start(port, process.env.HOST ?? '127.0.0.1');
console.log(`Express on ${app.url}: the API under /api, the live feed on ${app.url.replace('http', 'ws')}/live`);
console.log(`notify: curl -H 'Content-Type: application/json' -d '{"text":"hello"}' ${app.url}/api/notify`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
