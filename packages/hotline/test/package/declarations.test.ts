/**
 * The published declarations: members marked `@internal` are stripped (`stripInternal`),
 * so a user's editor never offers `server.sweep` or `server.topics`, and what is left
 * still type-checks in a strict consumer with `skipLibCheck: false` — a class whose
 * stripped member an `implements` clause needed would fail there, not here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// dist/test/package/ -> dist/src/
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
/** The entry points of package.json's `exports`. */
const ENTRIES = ['index.d.ts', 'browser/index.d.ts', 'browser/drivers.d.ts'];

/** Every declaration file reachable from the entry points. */
function publicDeclarations(): Map<string, string> {
  const files = new Map<string, string>();
  const queue = ENTRIES.map((entry) => path.join(DIST, entry));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    for (const match of text.matchAll(/from\s+['"](\.[^'"]+)['"]|import\(['"](\.[^'"]+)['"]\)/g)) {
      const spec = (match[1] ?? match[2])!;
      queue.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.d.ts')));
    }
  }
  return files;
}

/** [declaration file, member that must not be in it] */
const INTERNAL: Array<[string, RegExp]> = [
  ['server/server.d.ts', /\breadonly sweep\b/],
  ['server/server.d.ts', /\breadonly topics\b/],
  ['server/server.d.ts', /\breadonly outbound\b/],
  ['server/server.d.ts', /\breadonly partial\b/],
  ['server/server.d.ts', /\breadonly inflate\b/],
  ['server/server.d.ts', /\bsetExtensionNegotiator\(/],
  ['server/server.d.ts', /\bsetHttpRouteHandler\(/],
  ['server/server.d.ts', /\bfindRoute\(/],
  ['server/server.d.ts', /\bmatchRoute\(/],
  ['server/server.d.ts', /\bhandshakeExpired\(/],
  ['server/server.d.ts', /\bpeerClosed\(/],
  ['transports/http-transports.d.ts', /\blookup\(/],
  ['transports/http-transports.d.ts', /\badmit\(/],
  ['transports/http-transports.d.ts', /\bsessionEnded\(/],
  ['transports/http-transports.d.ts', /\bsweep\(/],
  ['browser/client.d.ts', /\bdriverOpened\(/],
  ['browser/client.d.ts', /\breadonly io\b/],
  ['client/websocket.d.ts', /\bhandshakeExpired\(/],
];

describe('published declarations', () => {
  const files = publicDeclarations();

  it('reach the modules of the public API from the entry points', () => {
    for (const module of ['server/server.d.ts', 'transports/http-transports.d.ts', 'browser/client.d.ts', 'client/websocket.d.ts', 'types.d.ts', 'errors.d.ts']) {
      assert.ok(files.has(path.join(DIST, module)), module);
    }
  });

  for (const [module, member] of INTERNAL) {
    it(`leave ${member.source.replace(/\\b|\\\(/g, '')} out of ${module}`, () => {
      const text = files.get(path.join(DIST, module));
      assert.ok(text !== undefined, `${module} is public`);
      assert.doesNotMatch(text, member);
    });
  }

  it('carry no @internal member at all', () => {
    for (const [file, text] of files) assert.doesNotMatch(text, /@internal/, path.relative(DIST, file));
  });

  it('type-check in a strict consumer with skipLibCheck off, public API in, internals out', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hotline-consumer-'));
    try {
      const index = JSON.stringify(path.join(DIST, 'index.js'));
      const client = JSON.stringify(path.join(DIST, 'browser', 'index.js'));
      const drivers = JSON.stringify(path.join(DIST, 'browser', 'drivers.js'));
      const consumer = path.join(dir, 'consumer.mts');
      writeFileSync(
        consumer,
        `
import { Server, WebSocket, HotlineError, enableHttpTransports, connect, type Peer, type RouteParams, type Handler } from ${index};
import { connect as browserConnect } from ${client};
import * as drivers from ${drivers};

interface Room { room: string }
const server = new Server({ idleTimeout: 60_000 });
const handler: Handler<Room> = {
  upgrade: (request) => ({ data: { room: request.params.id ?? '' } }),
  open(peer: Peer<Room>) {
    const params: RouteParams = peer.params;
    peer.subscribe(params.id ?? peer.data.room);
    const pinged: boolean = peer.ping('hello');
    void pinged;
  },
  ping: (_peer, data: Buffer) => void data.length,
  pong: (_peer, data: Buffer) => void data.length,
};
server.route('/rooms/:id', handler).route('/static/*', {});
enableHttpTransports(server, { hold: 10_000 });
for (const peer of server.peers) peer.close(1001);
const count: number = server.subscriberCount('lobby');
const connections: number = server.connections;
void count; void connections;
const client = connect('http://127.0.0.1:1/rooms/1', { WebSocket });
client.close();
void browserConnect; void drivers;
try { server.route('/rooms/:name', {}); } catch (error) { if (error instanceof HotlineError && error.code === 'HL_ERR_ROUTE_EXISTS') void error; }

// @ts-expect-error internal
server.sweep;
// @ts-expect-error internal
server.topics;
// @ts-expect-error internal
server.findRoute('/');
// @ts-expect-error internal
server.setExtensionNegotiator;
// @ts-expect-error internal
server.peerClosed();
// @ts-expect-error internal
server.outbound;
`,
      );
      const program = ts.createProgram([consumer], {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: ['node'],
        typeRoots: [path.resolve(DIST, '..', '..', '..', '..', 'node_modules', '@types')],
      });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
        const where = d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
        return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
      assert.deepEqual(diagnostics, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
