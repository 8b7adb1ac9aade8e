/**
 * The client's WebSocket over HTTP/2 (RFC 8441), against a node:http2 server over TLS
 * (ALPN h2) whose streams are driven by Hotline's own server-side shell: the extended
 * CONNECT and its refusals, messages of every kind over a stream, the closing handshake
 * both ways, RST_STREAM and a lost connection, two WebSockets on one connection, and
 * permessage-deflate negotiated over HTTP/2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocket } from '../../src/client/websocket.js';
import type { CloseEvent, ErrorEvent } from '../../src/client/events.js';
import { Http2StreamReset } from '../../src/client/http2-connect.js';
import { streamSocketOf } from '../../src/http2/stream-socket.js';
import { Server } from '../../src/server/server.js';
import { Side } from '../../src/protocol/side.js';
import { parseExtensions } from '../../src/protocol/extensions.js';
import { negotiateServer } from '../../src/protocol/permessage-deflate.js';
import { Sweep } from '../../src/timers/sweep.js';
import { PerMessageDeflate } from '../../src/websocket/permessage-deflate.js';
import { WebSocketShell } from '../../src/websocket/shell.js';
import type { ConnectionOwner } from '../../src/websocket/owner.js';
import { closed, nextMessage, openClient, record } from '../support/client.js';
import { cert, key } from '../support/tls.js';
import { eventually, withTimeout } from '../support/timing.js';
import { run } from '../cli/run.js';
import { parseConnect } from '../../src/cli/connect-options.js';
import { fileURLToPath } from 'node:url';

/** The certificate's file, for `hotline connect --ca`. */
const CA = fileURLToPath(new URL('../../../test/support/tls/localhost.crt', import.meta.url));

/** What the server side of one WebSocket saw. */
interface Peer {
  path: string;
  headers: IncomingHttpHeaders;
  shell: WebSocketShell<Peer>;
  session: import('node:http2').ServerHttp2Session;
  closedWith?: { code: number; reason: string; wasClean: boolean };
}

const echoOwner: ConnectionOwner<Peer> = {
  message(peer, data, isBinary) {
    // RFC 9113 §6.8: a graceful GOAWAY; the streams already open go on (this echo too).
    if (peer.path === '/goaway' && data.toString() === 'goaway') peer.session.goaway(http2.constants.NGHTTP2_NO_ERROR);
    peer.shell.send(data, isBinary);
  },
  close(peer, code, reason, wasClean) {
    peer.closedWith = { code, reason, wasClean };
  },
};

const sweep = new Sweep(250);
const silentStreams: ServerHttp2Stream[] = [];

interface H2Server {
  server: Http2SecureServer;
  url: string;
  connections: number;
  peers: Peer[];
  close(): Promise<void>;
}

/** RFC 8441 §4-5, the server's part, as small as it can be. */
function onStream(this: H2Server, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const path = String(headers[':path']);
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  if (path === '/missing') return void stream.respond({ ':status': 404 }, { endStream: true });
  if (path === '/bad') return void stream.respond({ ':status': 400 }, { endStream: true });
  // Never answers: the client's handshake deadline ends it.
  if (path === '/silent') return void silentStreams.push(stream);
  const answer: Record<string, string | number> = { ':status': 200 };
  const offered = headers['sec-websocket-protocol'];
  if (path === '/protocol' && typeof offered === 'string') answer['sec-websocket-protocol'] = offered.split(',').at(-1)!.trim();
  if (path === '/wrong-protocol') answer['sec-websocket-protocol'] = 'never-offered';
  const negotiated = typeof headers['sec-websocket-extensions'] === 'string' ? negotiateServer(parseExtensions(headers['sec-websocket-extensions'])) : null;
  if (negotiated !== null) answer['sec-websocket-extensions'] = negotiated.response;
  stream.respond(answer);
  const peer = { path, headers, session: stream.session! } as Peer;
  peer.shell = new WebSocketShell(streamSocketOf(stream), echoOwner, peer, sweep, {
    side: Side.SERVER,
    maxPayload: 4 * 1024 * 1024,
    maxFragments: 1024,
    closeTimeout: 1000,
    idleTimeout: 0,
    sendPings: false,
    maxBufferedAmount: 16 * 1024 * 1024,
    codec: negotiated === null ? null : new PerMessageDeflate(negotiated.params, Side.SERVER, { maxPayload: 4 * 1024 * 1024 }),
    protocol: String(answer['sec-websocket-protocol'] ?? ''),
    extensions: negotiated?.response ?? '',
  });
  this.peers.push(peer);
  peer.shell.start(Buffer.alloc(0));
  if (path === '/close-me') peer.shell.close(4321, 'server says bye');
  if (path === '/fragments') {
    peer.shell.sendFragment(Buffer.from('frag'), false, false);
    peer.shell.sendFragment(Buffer.from('men'), false, false);
    peer.shell.sendFragment(Buffer.from('ted'), false, true);
  }
  if (path === '/reset') {
    // RFC 6455 §5.2: a text frame announcing 100 bytes, 3 of which come; then RST_STREAM.
    stream.write(Buffer.from([0x81, 100, 0x61, 0x62, 0x63]), () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  }
  if (path === '/lose-connection') stream.session?.destroy();
}

async function h2Server(enableConnectProtocol: boolean, secure = true): Promise<H2Server> {
  const settings = { enableConnectProtocol };
  // Cleartext (h2c, prior knowledge) for ws:// URLs; both kinds emit the same events.
  const server = (secure ? http2.createSecureServer({ key, cert, settings }) : http2.createServer({ settings })) as Http2SecureServer;
  const state: H2Server = {
    server,
    url: '',
    connections: 0,
    peers: [],
    close: () => new Promise<void>((resolve) => {
      for (const peer of state.peers) peer.shell.terminate();
      server.close(() => resolve());
    }),
  };
  server.on(secure ? 'secureConnection' : 'connection', () => (state.connections += 1));
  server.on('stream', onStream.bind(state));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${secure ? 'wss' : 'ws'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const TRUSTED = { tls: { ca: cert }, http2: true } as const;

type Failure = { code?: string; status?: number; http2ErrorCode?: number; message?: string };

/** The error a failing `ws` reports, and the close event that follows it. */
async function failureOf(ws: WebSocket, ms = 2000): Promise<{ error: Failure; close: CloseEvent }> {
  const error = withTimeout(
    new Promise<Failure>((resolve) => ws.addEventListener('error', (event) => resolve((event as unknown as ErrorEvent).error as never), { once: true })),
    ms,
    'an error event',
  );
  const close = closed(ws, ms);
  return { error: await error, close: await close };
}

describe('the WebSocket client over HTTP/2 (RFC 8441)', { timeout: 20_000 }, () => {
  let h2: H2Server;

  before(async () => {
    h2 = await h2Server(true);
  });
  after(() => h2.close());

  it('sends the extended CONNECT of RFC 8441 §4-5, without Sec-WebSocket-Key, and opens on 200', async () => {
    const ws = await openClient(`${h2.url}/echo?room=1`, ['chat.v1'], { ...TRUSTED, headers: { Origin: 'https://app.example', 'X-Token': 't' } });
    const peer = h2.peers.at(-1)!;
    assert.equal(peer.headers[':method'], 'CONNECT');
    assert.equal(peer.headers[':protocol'], 'websocket');
    assert.equal(peer.headers[':scheme'], 'https');
    assert.equal(peer.headers[':path'], '/echo?room=1');
    assert.equal(peer.headers[':authority'], new URL(h2.url).host);
    assert.equal(peer.headers['sec-websocket-version'], '13');
    assert.equal(peer.headers['sec-websocket-protocol'], 'chat.v1');
    assert.equal(peer.headers['origin'], 'https://app.example');
    assert.equal(peer.headers['x-token'], 't');
    assert.equal(peer.headers['sec-websocket-key'], undefined);
    assert.equal(peer.headers['sec-websocket-extensions'], undefined);
    ws.close();
    await closed(ws);
  });

  it('carries text, binary, a 1 MiB message, a fragmented message and ping/pong over the stream', async () => {
    const ws = await openClient(`${h2.url}/echo`, [], TRUSTED);
    ws.binaryType = 'nodebuffer';
    ws.send('héllo');
    assert.equal(await nextMessage(ws), 'héllo');
    ws.send(new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual([...((await nextMessage(ws)) as Buffer)], [0, 1, 2, 255]);
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    ws.send(big);
    // HTTP/2 flow control (a 64 KiB window) holds most of it back: bufferedAmount shows it.
    assert.ok(ws.bufferedAmount > 0, `bufferedAmount ${ws.bufferedAmount}`);
    const echoed = (await nextMessage(ws, 5000)) as Buffer;
    assert.ok(echoed.equals(big));
    assert.equal(ws.bufferedAmount, 0);
    const pong = new Promise<Buffer>((resolve) => ws.addEventListener('pong', (event) => resolve((event as unknown as { data: Buffer }).data), { once: true }));
    ws.ping('are you there');
    assert.equal((await withTimeout(pong, 2000, 'a pong')).toString(), 'are you there');
    ws.close(1000, 'done');
    const event = await closed(ws);
    assert.deepEqual([event.code, event.wasClean], [1000, true]);
    await eventually(() => h2.peers.some((p) => p.closedWith?.reason === 'done'), 2000, 'the server to see the close');
    assert.deepEqual(h2.peers.find((p) => p.closedWith?.reason === 'done')!.closedWith, { code: 1000, reason: 'done', wasClean: true });
  });

  it('delivers a message the server fragmented as one message', async () => {
    const ws = new WebSocket(`${h2.url}/fragments`, [], TRUSTED);
    assert.equal(await nextMessage(ws), 'fragmented');
    ws.close();
    await closed(ws);
  });

  it('closes with the code and reason of a server-initiated close', async () => {
    const ws = new WebSocket(`${h2.url}/close-me`, [], TRUSTED);
    const event = await closed(ws);
    assert.deepEqual([event.code, event.reason, event.wasClean], [4321, 'server says bye', true]);
  });

  it('selects the subprotocol the server chose, and fails on one it did not offer', async () => {
    const ws = await openClient(`${h2.url}/protocol`, ['a', 'b'], TRUSTED);
    assert.equal(ws.protocol, 'b');
    ws.close();
    await closed(ws);
    const wrong = new WebSocket(`${h2.url}/wrong-protocol`, ['a'], TRUSTED);
    const { error, close } = await failureOf(wrong);
    assert.equal(error.code, 'HL_ERR_HANDSHAKE_PROTOCOL');
    assert.equal(close.code, 1006);
  });

  for (const status of [404, 400]) {
    it(`fails the handshake on a ${status} answer, as on a non-101 over HTTP/1.1`, async () => {
      const ws = new WebSocket(`${h2.url}/${status === 404 ? 'missing' : 'bad'}`, [], TRUSTED);
      const seen = record(ws);
      const { error } = await failureOf(ws);
      assert.equal(error.code, 'HL_ERR_HANDSHAKE_STATUS');
      assert.equal(error.status, status);
      assert.deepEqual(seen.map((e) => e.type), ['error', 'close']);
      assert.equal(seen[1]!.code, 1006);
    });
  }

  it('closes with 1006 and the HTTP/2 error code when the server resets the stream mid-message', async () => {
    const ws = new WebSocket(`${h2.url}/reset`, [], TRUSTED);
    const seen = record(ws);
    const { error, close } = await failureOf(ws);
    assert.ok(error instanceof Http2StreamReset);
    assert.equal(error.code, 'HL_ERR_SOCKET');
    assert.equal(error.http2ErrorCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
    assert.deepEqual([close.code, close.wasClean], [1006, false]);
    assert.deepEqual(seen.map((e) => e.type), ['open', 'error', 'close']);
  });

  it('ends every WebSocket on a connection the server drops', async () => {
    const first = await openClient(`${h2.url}/echo`, [], TRUSTED);
    const second = new WebSocket(`${h2.url}/lose-connection`, [], TRUSTED);
    const lost = failureOf(first);
    const [a, b] = await Promise.all([lost, failureOf(second)]);
    assert.deepEqual([a.close.code, a.close.wasClean, b.close.code], [1006, false, 1006]);
    assert.equal(a.error.code, 'HL_ERR_SOCKET');
    assert.ok(a.error instanceof Http2StreamReset);
  });

  it('multiplexes two WebSockets on one TLS connection, and closes it after the last', async () => {
    const before = h2.connections;
    const sessionsClosed = new Promise<void>((resolve) => h2.server.once('session', (session) => session.once('close', resolve)));
    const [one, two] = await Promise.all([openClient(`${h2.url}/echo`, [], TRUSTED), openClient(`${h2.url}/echo`, [], TRUSTED)]);
    assert.equal(h2.connections - before, 1);
    one.send('one');
    two.send('two');
    assert.deepEqual(await Promise.all([nextMessage(one), nextMessage(two)]), ['one', 'two']);
    one.close(4001);
    await closed(one);
    // The other WebSocket still goes on over the same connection.
    two.send('still here');
    assert.equal(await nextMessage(two), 'still here');
    two.close(4002, 'second');
    await closed(two);
    await eventually(() => h2.peers.some((p) => p.closedWith?.reason === 'second'), 2000, 'the server to see the close');
    assert.equal(h2.peers.find((p) => p.closedWith?.reason === 'second')!.closedWith!.code, 4002);
    await withTimeout(sessionsClosed, 2000, 'the client to close its HTTP/2 connection after the last WebSocket');
  });

  it('after a graceful GOAWAY, keeps the WebSockets open and opens new ones on a new connection', async () => {
    const before = h2.connections;
    const old = await openClient(`${h2.url}/goaway`, [], TRUSTED);
    // The echo comes after the GOAWAY on the wire: once it is here, the client has seen it.
    old.send('goaway');
    assert.equal(await nextMessage(old), 'goaway');
    const fresh = await openClient(`${h2.url}/echo`, [], TRUSTED);
    assert.equal(h2.connections - before, 2);
    old.send('still open');
    fresh.send('fresh');
    assert.deepEqual(await Promise.all([nextMessage(old), nextMessage(fresh)]), ['still open', 'fresh']);
    old.close();
    fresh.close();
    const events = await Promise.all([closed(old), closed(fresh)]);
    assert.deepEqual(events.map((e) => e.wasClean), [true, true]);
  });

  it('opens on a session the application gives, and leaves it open', async () => {
    const session = http2.connect(h2.url.replace('wss:', 'https:'), { ca: cert });
    try {
      const ws = await openClient(`${h2.url}/echo`, [], { http2: { session } });
      ws.send('mine');
      assert.equal(await nextMessage(ws), 'mine');
      ws.close();
      await closed(ws);
      assert.equal(session.closed, false);
    } finally {
      session.close();
    }
  });

  it('negotiates permessage-deflate over HTTP/2 as over HTTP/1.1', async () => {
    const ws = await openClient(`${h2.url}/echo`, [], { ...TRUSTED, perMessageDeflate: true });
    assert.match(String(h2.peers.at(-1)!.headers['sec-websocket-extensions']), /^permessage-deflate/);
    assert.match(ws.extensions, /^permessage-deflate/);
    const text = 'compress me '.repeat(1000);
    ws.send(text);
    assert.equal(await nextMessage(ws), text);
    ws.close();
    await closed(ws);
  });

  it('fails with HL_ERR_HANDSHAKE_TIMEOUT when the CONNECT is never answered, and resets the stream', async () => {
    const ws = new WebSocket(`${h2.url}/silent`, [], { ...TRUSTED, handshakeTimeout: 100 });
    const { error, close } = await failureOf(ws);
    assert.deepEqual([error.code, close.code], ['HL_ERR_HANDSHAKE_TIMEOUT', 1006]);
    await eventually(() => silentStreams.at(-1)?.rstCode === http2.constants.NGHTTP2_CANCEL, 2000, 'the stream to be reset (CANCEL)');
  });

  it('closing while connecting over HTTP/2 fails the connection, and resets the stream', async () => {
    const ws = new WebSocket(`${h2.url}/silent`, [], TRUSTED);
    const count = silentStreams.length;
    await eventually(() => silentStreams.length > count, 2000, 'the CONNECT to arrive');
    ws.close();
    const { error, close } = await failureOf(ws);
    assert.deepEqual([error.code, close.code], ['HL_ERR_INVALID_STATE', 1006]);
    await eventually(() => silentStreams.at(-1)!.rstCode === http2.constants.NGHTTP2_CANCEL, 2000, 'the stream to be reset (CANCEL)');
  });

  it('refuses headers that HTTP/2 forbids when the WebSocket is made', () => {
    assert.throws(() => new WebSocket(`${h2.url}/echo`, [], { ...TRUSTED, headers: { Connection: 'keep-alive' } }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocket(`${h2.url}/echo`, [], { ...TRUSTED, headers: { ':path': '/x' } }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocket(`${h2.url}/echo`, [], { http2: { sesion: null } as never }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});

describe('the WebSocket client over cleartext HTTP/2 (ws://, prior knowledge)', { timeout: 10_000 }, () => {
  let h2c: H2Server;
  before(async () => {
    h2c = await h2Server(true, false);
  });
  after(() => h2c.close());

  it('opens with :scheme http and echoes', async () => {
    const ws = await openClient(`${h2c.url}/echo`, [], { http2: true });
    assert.equal(h2c.peers.at(-1)!.headers[':scheme'], 'http');
    ws.send('clear');
    assert.equal(await nextMessage(ws), 'clear');
    ws.close();
    assert.equal((await closed(ws)).wasClean, true);
  });
});

describe('the WebSocket client over HTTP/2, to a server without the extended CONNECT', { timeout: 10_000 }, () => {
  let h2: H2Server;
  before(async () => {
    h2 = await h2Server(false);
  });
  after(() => h2.close());

  it('fails with HL_ERR_HANDSHAKE_UPGRADE, sending no stream (RFC 8441 §3)', async () => {
    const ws = new WebSocket(`${h2.url}/echo`, [], TRUSTED);
    const { error, close } = await failureOf(ws);
    assert.equal(error.code, 'HL_ERR_HANDSHAKE_UPGRADE');
    assert.match(String(error.message), /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
    assert.equal(close.code, 1006);
    assert.equal(h2.peers.length, 0);
  });
});

describe("the WebSocket client over HTTP/2, against Hotline's server (listen with tls)", { timeout: 20_000 }, () => {
  let server: Server;
  let url: string;
  let connections = 0;
  const versions: Array<string | undefined> = [];

  before(async () => {
    server = new Server({ perMessageDeflate: true });
    server.route('/echo', {
      upgrade: (request) => void versions.push(request.httpVersion),
      message: (peer, data, isBinary) => void peer.send(data, isBinary),
    });
    server.route('/close-me', { open: (peer) => peer.close(4321, 'server says bye') });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    server.tlsServer!.on('secureConnection', () => (connections += 1));
    url = `wss://127.0.0.1:${port}`;
  });
  after(() => server.close());

  it('opens over HTTP/2 (the upgrade hook sees 2.0) and carries text, binary and 1 MiB', async () => {
    const ws = await openClient(`${url}/echo`, [], TRUSTED);
    assert.equal(versions.at(-1), '2.0');
    ws.binaryType = 'nodebuffer';
    ws.send('héllo');
    assert.equal(await nextMessage(ws), 'héllo');
    const big = Buffer.alloc(1024 * 1024, 7);
    ws.send(big);
    assert.ok(((await nextMessage(ws, 5000)) as Buffer).equals(big));
    ws.close(4000, 'bye');
    const event = await closed(ws);
    assert.deepEqual([event.code, event.wasClean], [4000, true]);
  });

  it("closes with the server's code and reason", async () => {
    const event = await closed(new WebSocket(`${url}/close-me`, [], TRUSTED));
    assert.deepEqual([event.code, event.reason, event.wasClean], [4321, 'server says bye', true]);
  });

  it('multiplexes two WebSockets on one TLS connection', async () => {
    const before = connections;
    const [one, two] = await Promise.all([openClient(`${url}/echo`, [], TRUSTED), openClient(`${url}/echo`, [], TRUSTED)]);
    assert.equal(connections - before, 1);
    one.send('one');
    two.send('two');
    assert.deepEqual(await Promise.all([nextMessage(one), nextMessage(two)]), ['one', 'two']);
    one.close();
    two.close();
    await Promise.all([closed(one), closed(two)]);
  });

  it('negotiates permessage-deflate', async () => {
    const ws = await openClient(`${url}/echo`, [], { ...TRUSTED, perMessageDeflate: true });
    assert.match(ws.extensions, /^permessage-deflate/);
    const text = 'compress me '.repeat(1000);
    ws.send(text);
    assert.equal(await nextMessage(ws), text);
    ws.close();
    await closed(ws);
  });

  it('fails with the status of a refused CONNECT (404 on no route)', async () => {
    const { error, close } = await failureOf(new WebSocket(`${url}/nowhere`, [], TRUSTED));
    assert.deepEqual([error.code, error.status, close.code], ['HL_ERR_HANDSHAKE_STATUS', 404, 1006]);
  });

  it('fails with HL_ERR_HANDSHAKE_UPGRADE when the server has webSocketOverHttp2: false', async () => {
    const plain = new Server({ webSocketOverHttp2: false });
    plain.route('/echo', { message: (peer, data, isBinary) => void peer.send(data, isBinary) });
    const { port } = await plain.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    try {
      const { error } = await failureOf(new WebSocket(`wss://127.0.0.1:${port}/echo`, [], TRUSTED));
      assert.equal(error.code, 'HL_ERR_HANDSHAKE_UPGRADE');
      // The same server over HTTP/1.1 still opens.
      const ws = await openClient(`wss://127.0.0.1:${port}/echo`, [], { tls: { ca: cert } });
      ws.close();
      await closed(ws);
    } finally {
      await plain.close();
    }
  });

  it('fails with HL_ERR_HANDSHAKE_UPGRADE on a server without HTTP/2: ALPN h2 refused, or cleartext HTTP/1.1', async () => {
    const https1 = new Server();
    const plain = new Server();
    const [secure, clear] = await Promise.all([
      https1.listen({ port: 0, host: '127.0.0.1', tls: { key, cert }, http2: false }),
      plain.listen(0, '127.0.0.1'),
    ]);
    try {
      const [overTls, cleartext] = await Promise.all([
        failureOf(new WebSocket(`wss://127.0.0.1:${secure.port}/echo`, [], TRUSTED)),
        failureOf(new WebSocket(`ws://127.0.0.1:${clear.port}/echo`, [], { http2: true })),
      ]);
      assert.equal(overTls.error.code, 'HL_ERR_HANDSHAKE_UPGRADE');
      assert.match(String(overTls.error.message), /ALPN/);
      assert.equal(cleartext.error.code, 'HL_ERR_HANDSHAKE_UPGRADE');
      assert.match(String(cleartext.error.message), /cleartext HTTP\/2/);
    } finally {
      await Promise.all([https1.close(), plain.close()]);
    }
  });
});

describe('hotline connect --http2', { timeout: 20_000 }, () => {
  let h2: H2Server;
  let refusing: H2Server;
  before(async () => {
    [h2, refusing] = await Promise.all([h2Server(true), h2Server(false)]);
  });
  after(() => Promise.all([h2.close(), refusing.close()]));

  it('exchanges messages over HTTP/2 with --ca, and with --insecure', async () => {
    const [trusted, insecure] = await Promise.all([
      run(['connect', '--http2', '--ca', CA, '-x', 'hi', '-x', 'there', `${h2.url}/echo`]),
      run(['connect', '--http2', '--insecure', '-x', 'hi', `${h2.url}/echo`]),
    ]);
    assert.deepEqual([trusted.stdout, trusted.stderr, trusted.code], ['hi\nthere\n', '', 0]);
    assert.deepEqual([insecure.stdout, insecure.stderr, insecure.code], ['hi\n', '', 0]);
    assert.ok(h2.peers.every((peer) => peer.headers[':protocol'] === 'websocket'));
    assert.equal(h2.peers.length, 2);
  });

  it('exits 1 naming the missing SETTINGS_ENABLE_CONNECT_PROTOCOL', async () => {
    const result = await run(['connect', '--http2', '--ca', CA, '-x', 'hi', `${refusing.url}/echo`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SETTINGS_ENABLE_CONNECT_PROTOCOL.*\(HL_ERR_HANDSHAKE_UPGRADE\)\n$/);
  });

  it('refuses --http2 with --transport, a usage error', () => {
    assert.throws(() => parseConnect(['--http2', '--transport', 'sse', 'https://127.0.0.1:1/']), /--http2 applies to WebSocket/);
    const parsed = parseConnect(['--http2', '-k', 'wss://127.0.0.1:1/']);
    assert.ok(!parsed.help && !parsed.transport && parsed.options.http2 === true && parsed.options.tls?.rejectUnauthorized === false);
  });
});
