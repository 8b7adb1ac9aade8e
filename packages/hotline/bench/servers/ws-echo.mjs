// The `ws` peer: echo on every path; on /broadcast every message goes to every
// connection on /broadcast (the contract of `hotline echo`). Refuses to start
// unless ws really uses the native bufferutil for masking.
import { createRequire } from 'node:module';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { listenArgs } from './args.mjs';

const require = createRequire(import.meta.url);

function checkBufferutil() {
  if (process.env.WS_NO_BUFFER_UTIL) return 'WS_NO_BUFFER_UTIL is set';
  const native = require('bufferutil');
  // bufferutil falls back to JavaScript silently when its addon fails to load.
  if (!String(native.mask).includes('[native code]')) return 'bufferutil loaded its JavaScript fallback';
  // ws binds bufferutil in lib/buffer-util.js; the package's exports map hides
  // that file, so it is required by absolute path (the same module instance).
  const wsUtil = require(path.join(path.dirname(require.resolve('ws')), 'lib', 'buffer-util.js'));
  if (!String(wsUtil.mask).includes('bufferUtil')) return 'ws did not pick up bufferutil';
  return null;
}

const problem = checkBufferutil();
if (problem) {
  console.error(`ws-echo: ${problem}`);
  process.exit(1);
}

const { port, host } = listenArgs();
const room = new Set();

function onEcho(data, isBinary) {
  this.send(data, { binary: isBinary });
}

function onBroadcast(data, isBinary) {
  for (const peer of room) peer.send(data, { binary: isBinary });
}

function onLeave() {
  room.delete(this);
}

const wss = new WebSocketServer({ host, port, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  if (req.url === '/broadcast') {
    room.add(ws);
    ws.on('message', onBroadcast);
    ws.on('close', onLeave);
  } else {
    ws.on('message', onEcho);
  }
});
wss.on('listening', () => console.log(`ws-echo listening on ${host}:${port}`));
wss.on('error', (err) => {
  console.error(`ws-echo: ${err.message}`);
  process.exit(1);
});
