/** Runs the chat: `PORT=3000 HOST=127.0.0.1 node dist/chat/main.js`. */
import { start } from './server.js';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
// Only this machine by default: HOST=0.0.0.0 shares the chat with the network.
const chat = await start(port, process.env.HOST ?? '127.0.0.1');
console.log(`chat on ${chat.url}/ (open it in two windows, or ${chat.url}/?room=games)`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void chat.close().then(() => process.exit(0)));
}
