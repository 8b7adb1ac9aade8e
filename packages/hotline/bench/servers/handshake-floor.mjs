// The handshake ceiling: the least any Node server must do to answer an RFC 6455
// opening handshake. A `net` server that finds Sec-WebSocket-Key in the first read,
// hashes it (§4.2.2) and writes the 101. No HTTP parsing, no checks, no WebSocket
// afterwards: what is left is Node's socket and the kernel, which every peer pays.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { listenArgs } from './args.mjs';

const { port, host } = listenArgs();
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = 'sec-websocket-key:';

function onConnection(socket) {
  socket.on('error', () => socket.destroy());
  socket.once('data', (chunk) => {
    const head = chunk.toString('latin1');
    const at = head.toLowerCase().indexOf(KEY);
    if (at === -1) return socket.destroy();
    const key = head.slice(at + KEY.length, head.indexOf('\r\n', at)).trim();
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });
}

net.createServer({ noDelay: true }, onConnection).listen(port, host, () => {
  process.stdout.write(`listening on ${port}\n`);
});
