// The ceiling: a length-prefixed echo on Node's `net` (4-byte big-endian length,
// then the payload). It finds message boundaries like any server must, and
// writes back every complete message of a read in one write, with no copy.
import net from 'node:net';
import { listenArgs } from './args.mjs';

const { port, host } = listenArgs();

function onConnection(socket) {
  const hdr = Buffer.alloc(4);
  let hdrLen = 0;
  let remaining = 0; // payload bytes still due for the current message
  let inPayload = false;
  let held = []; // earlier chunks of the message not yet complete

  socket.on('data', (chunk) => {
    let i = 0;
    let cut = 0; // end of the last complete message in this chunk
    const n = chunk.length;
    while (i < n) {
      if (!inPayload) {
        if (hdrLen === 0 && n - i >= 4) {
          remaining = chunk.readUInt32BE(i);
          i += 4;
        } else {
          const take = Math.min(4 - hdrLen, n - i);
          chunk.copy(hdr, hdrLen, i, i + take);
          hdrLen += take;
          i += take;
          if (hdrLen < 4) break;
          remaining = hdr.readUInt32BE(0);
          hdrLen = 0;
        }
        inPayload = true;
      }
      const take = Math.min(remaining, n - i);
      i += take;
      remaining -= take;
      if (remaining === 0) {
        inPayload = false;
        cut = i;
      }
    }
    if (cut > 0) {
      if (held.length > 0) {
        socket.cork();
        for (const part of held) socket.write(part);
        socket.write(chunk.subarray(0, cut));
        socket.uncork();
        held = [];
      } else {
        socket.write(cut === n ? chunk : chunk.subarray(0, cut));
      }
    }
    if (cut < n) held.push(cut === 0 ? chunk : chunk.subarray(cut));
  });
  socket.on('error', () => {});
}

const server = net.createServer({ noDelay: true }, onConnection);
server.listen(port, host, () => console.log(`raw-echo listening on ${host}:${port}`));
server.on('error', (err) => {
  console.error(`raw-echo: ${err.message}`);
  process.exit(1);
});
