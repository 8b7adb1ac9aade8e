// The servers under test. Each is started fresh for every measurement, pinned
// to the server core, with `--port N` on 127.0.0.1.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export function definePeers(root) {
  const probe = pathToFileURL(path.join(root, 'bench', 'servers', 'probe.mjs')).href;
  // Every Node peer gets the same flags: GC on request, memory readings over IPC.
  const node = [process.execPath, '--expose-gc', '--import', probe];
  const hotlineMain = path.join(root, 'dist', 'src', 'cli', 'main.js');
  // Another build of Hotline to compare with in the same run (before/after a change):
  // HOTLINE_BASELINE=/path/to/other/checkout/dist/src/cli/main.js --peers hotline,baseline,...
  const baselineMain = process.env.HOTLINE_BASELINE ?? '';
  return {
    hotline: {
      label: 'Hotline',
      proto: 'ws',
      argv: (port) => [...node, hotlineMain, 'echo', '--port', String(port)],
      unavailable: () => (existsSync(hotlineMain) ? null : 'dist/src/cli/main.js not found (npm run build)'),
    },
    baseline: {
      label: 'Hotline (baseline)',
      proto: 'ws',
      optIn: true,
      argv: (port) => [...node, baselineMain, 'echo', '--port', String(port)],
      unavailable: () => (baselineMain === '' ? 'HOTLINE_BASELINE is not set' : existsSync(baselineMain) ? null : `${baselineMain} not found`),
    },
    ws: {
      label: 'ws + bufferutil',
      proto: 'ws',
      argv: (port) => [...node, path.join(root, 'bench', 'servers', 'ws-echo.mjs'), '--port', String(port)],
      unavailable: () => null,
    },
    uws: {
      label: 'uWebSockets.js',
      proto: 'ws',
      argv: (port) => [...node, path.join(root, 'bench', 'servers', 'uws-echo.mjs'), '--port', String(port)],
      unavailable: () => null,
    },
    raw: {
      label: 'raw net (ceiling)',
      proto: 'raw',
      kinds: ['echo', 'handshake'], // no broadcast, and no WebSocket to hold idle
      argv: (port) => [...node, path.join(root, 'bench', 'servers', 'raw-echo.mjs'), '--port', String(port)],
      unavailable: () => null,
      // Its handshake: find the key, write the 101, nothing else.
      handshake: {
        proto: 'ws',
        argv: (port) => [...node, path.join(root, 'bench', 'servers', 'handshake-floor.mjs'), '--port', String(port)],
      },
    },
  };
}
