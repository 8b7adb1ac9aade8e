// The uWebSockets.js peer: echo on every path, /broadcast through uWS's native
// pub/sub. The addon is loaded from its .node file so that the package's
// JavaScript fallback (built on ws) can never be measured by mistake.
import { createRequire } from 'node:module';
import path from 'node:path';
import { listenArgs } from './args.mjs';

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const addon = path.join(pkgDir, 'dist', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);

let uws;
try {
  uws = require(addon);
} catch (err) {
  console.error(`uws-echo: cannot load ${addon}: ${err.message}`);
  process.exit(1);
}
if (typeof uws.App !== 'function' || !String(uws.App).includes('[native code]')) {
  console.error(`uws-echo: ${addon} is not the native addon`);
  process.exit(1);
}

const { port, host } = listenArgs();
const behavior = {
  compression: uws.DISABLED,
  // Large enough for the 1 MiB echo; uWS drops what exceeds maxBackpressure.
  maxPayloadLength: 64 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
};

const app = uws.App();
app.ws('/broadcast', {
  ...behavior,
  open: (ws) => ws.subscribe('broadcast'),
  message: (ws, message, isBinary) => app.publish('broadcast', message, isBinary),
});
app.ws('/*', {
  ...behavior,
  message: (ws, message, isBinary) => ws.send(message, isBinary),
});
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws-echo: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(`uws-echo listening on ${host}:${port}`);
});
