/** Runs the authentication example: `PORT=3000 HOST=127.0.0.1 node dist/auth/main.js`. */
import { start } from './server.js';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
// Only this machine by default: HOST=0.0.0.0 opens it to the network.
const app = await start(port, process.env.HOST ?? '127.0.0.1');
console.log(`auth example on ${app.url} (users: alice/wonderland, an admin, and bob/builder)`);
console.log(`log in: curl -H 'Content-Type: application/json' -d '{"user":"alice","password":"wonderland"}' ${app.url}/login`);
console.log(`then:   npx hotline connect '${app.url.replace('http', 'ws')}/live?token=TOKEN'`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
