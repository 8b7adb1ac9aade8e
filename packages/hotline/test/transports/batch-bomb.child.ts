/**
 * Child process of bodies.test.ts: one 16 MiB POST of 5.6 million empty packets against a
 * server with the default limits; reports the answer, how much the process grew (RSS,
 * which keeps its high-water mark) and the longest event-loop stall seen meanwhile.
 */
import { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import { decodeBatch } from '../../src/protocol/session/wire.js';

const server = new Server();
server.route('/bomb', {});
enableHttpTransports(server);
const { port } = await server.listen(0, '127.0.0.1');
const base = `http://127.0.0.1:${port}/bomb`;

const handshake = await fetch(`${base}?transport=polling`);
const sid = (decodeBatch(new Uint8Array(await handshake.arrayBuffer()), { allowOpen: true }).packets[0] as { handshake: { sid: string } }).handshake.sid;

const packet = Buffer.from('t0:');
const body = Buffer.alloc(16 * 1024 * 1024);
body.write('1;');
for (let at = 2; at + 3 <= body.length; at += 3) packet.copy(body, at);
const end = 2 + Math.floor((body.length - 2) / 3) * 3;

let stall = 0;
let last = performance.now();
const probe = setInterval(() => {
  const now = performance.now();
  stall = Math.max(stall, now - last - 5);
  last = now;
}, 5);

global.gc?.();
const before = process.memoryUsage().rss;
const answer = await fetch(`${base}?transport=polling&sid=${sid}`, { method: 'POST', body: body.subarray(0, end) });
const json = (await answer.json().catch(() => ({}))) as { code?: string };
const growth = process.memoryUsage().rss - before;
clearInterval(probe);
process.send!({ status: answer.status, code: json.code ?? '', growth, stall: Math.round(stall) });
await server.close({ timeout: 100 });
process.disconnect();
