/**
 * The server's own behaviour over real sockets: sharing an http/https server's port with
 * ordinary routes, listening alone, routing by path, the handler object and per-peer
 * data, and graceful shutdown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Server } from '../../src/server/server.js';
import { UpgradeRejection, type UpgradeRequest } from '../../src/types.js';
import { WebSocket } from '../../src/client/websocket.js';
import { closed, nextMessage, openClient, record } from '../support/client.js';
import { RawPeer, rawRequest, upgradeRequest } from '../support/raw.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { delay, eventually } from '../support/timing.js';
import { cert, key } from '../support/tls.js';

const SLACK = 400;

const sockets = new WeakMap<http.Server | https.Server, Set<import('node:net').Socket>>();

/** Listens on 127.0.0.1:0 and remembers every socket, upgraded ones included, for closeHttp. */
function listenOn(server: http.Server | https.Server): Promise<number> {
  const seen = new Set<import('node:net').Socket>();
  sockets.set(server, seen);
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (socket: import('node:net').Socket) => {
    seen.add(socket);
    socket.once('close', () => seen.delete(socket));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Closes an application server whatever is still connected to it (a failed test leaves peers). */
function closeHttp(server: http.Server | https.Server): Promise<void> {
  for (const socket of sockets.get(server) ?? []) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const request = client.get(url, { ...options, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
    });
    request.on('error', reject);
    request.setTimeout(2000, () => request.destroy(new Error('request timed out')));
  });
}

describe('attach: one port for ordinary HTTP routes and WebSocket', { timeout: 15_000 }, () => {
  it('shares an http.Server with the application routes', async () => {
    const app = http.createServer((request, response) => {
      if (request.url === '/health') response.end('ok');
      else {
        response.statusCode = 404;
        response.end('app 404');
      }
    });
    const recorder = new Recorder();
    const hotline = new Server().route('/chat', recorder.echo());
    hotline.attach(app);
    const port = await listenOn(app);
    try {
      assert.deepEqual(await get(`http://127.0.0.1:${port}/health`).then((r) => [r.status, r.body]), [200, 'ok']);
      assert.deepEqual(await get(`http://127.0.0.1:${port}/elsewhere`).then((r) => [r.status, r.body]), [404, 'app 404']);
      // A plain request to a WebSocket route: 426, naming the protocol.
      const plain = await get(`http://127.0.0.1:${port}/chat`);
      assert.equal(plain.status, 426);
      assert.equal(plain.headers['upgrade'], 'websocket');
      const ws = await openClient(`ws://127.0.0.1:${port}/chat`);
      ws.send('over the shared port');
      assert.equal(await nextMessage(ws), 'over the shared port');
      // The application keeps serving while a WebSocket is open.
      assert.equal((await get(`http://127.0.0.1:${port}/health`)).body, 'ok');
      // An upgrade to a path with no route, and no other upgrade listener: 404.
      const { head } = await rawRequest(port, upgradeRequest('/nowhere', 'dGhlIHNhbXBsZSBub25jZQ=='));
      assert.equal(head.status, 404);
      ws.close(1000);
      await closed(ws);
    } finally {
      await hotline.close({ timeout: 200 });
      await closeHttp(app);
    }
  });

  it('leaves upgrades outside its routes to another library on the same server', async () => {
    const app = http.createServer((_request, response) => response.end('app'));
    const hotline = new Server().route('/hotline', new Recorder().echo());
    hotline.attach(app);
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (socket) => socket.send('from ws'));
    app.on('upgrade', (request, socket, head) => {
      if (request.url === '/ws-lib') other.handleUpgrade(request, socket, head, (client) => other.emit('connection', client, request));
    });
    const port = await listenOn(app);
    try {
      const viaHotline = await wsClient(`ws://127.0.0.1:${port}/hotline`);
      await assertEchoes(viaHotline);
      const viaWs = await openClient(`ws://127.0.0.1:${port}/ws-lib`);
      assert.equal(await nextMessage(viaWs), 'from ws');
      viaWs.close();
      await closed(viaWs);
      await closeWs(viaHotline);
    } finally {
      other.close();
      await hotline.close({ timeout: 200 });
      await closeHttp(app);
    }
  });

  it('shares an https.Server: wss:// and https:// on one port', async () => {
    const app = https.createServer({ key, cert }, (_request, response) => response.end('secure ok'));
    const hotline = new Server().route('/secure', new Recorder().echo());
    hotline.attach(app);
    const port = await listenOn(app);
    try {
      assert.equal((await get(`https://localhost:${port}/`, { ca: cert })).body, 'secure ok');
      const ws = await openClient(`wss://localhost:${port}/secure`, [], { tls: { ca: cert } });
      ws.send(new Uint8Array([1, 2, 3]));
      ws.binaryType = 'arraybuffer';
      assert.deepEqual([...new Uint8Array((await nextMessage(ws)) as ArrayBuffer)], [1, 2, 3]);
      ws.close(1000, 'done');
      assert.equal((await closed(ws)).code, 1000);
      // Without the CA the certificate is refused: error, then close 1006.
      const untrusted = await closed(new WebSocket(`wss://localhost:${port}/secure`));
      assert.equal(untrusted.code, 1006);
    } finally {
      await hotline.close({ timeout: 200 });
      await closeHttp(app);
    }
  });
});

describe('listen, routes and the handler object', { timeout: 15_000 }, () => {
  it('listens alone: requests outside the routes go to the fallback, or 404', async () => {
    const withFallback = new Server().route('/ws', new Recorder().echo());
    const address = await withFallback.listen(0, '127.0.0.1', (_request, response) => response.end('fallback'));
    const bare = new Server().route('/ws', new Recorder().echo());
    const bareAddress = await bare.listen(0, '127.0.0.1');
    try {
      assert.equal((await get(`http://127.0.0.1:${address.port}/page`)).body, 'fallback');
      assert.equal((await get(`http://127.0.0.1:${bareAddress.port}/page`)).status, 404);
      const ws = await wsClient(`ws://127.0.0.1:${address.port}/ws`);
      await assertEchoes(ws);
      await closeWs(ws);
      await assert.rejects(withFallback.listen(0), (error: { code?: string }) => error.code === 'HL_ERR_INVALID_STATE');
    } finally {
      await withFallback.close({ timeout: 200 });
      await bare.close({ timeout: 200 });
    }
  });

  it('routes by exact pathname, query ignored, with "*" for every other path', async () => {
    const served: string[] = [];
    const handler = (name: string) => ({
      open(peer: { send(d: string): unknown }) {
        served.push(name);
        peer.send(name);
      },
    });
    const { server, url } = await listening({}, (s) => s.route('/a', handler('a')).route('/b', handler('b')).route('*', handler('any')));
    try {
      for (const [path, expected] of [
        ['/a', 'a'],
        ['/b?x=1', 'b'],
        ['/a/', 'any'],
        ['/A', 'any'],
        ['/c/d', 'any'],
      ] as const) {
        const ws = await openClient(`${url}${path}`);
        assert.equal(await nextMessage(ws), expected, path);
        ws.close();
        await closed(ws);
      }
    } finally {
      await server.close({ timeout: 200 });
    }
  });

  it('refuses invalid routes at once with HL_ERR_INVALID_ARGUMENT', () => {
    const server = new Server();
    assert.throws(() => server.route('no-slash', {}), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => server.route('/x', null as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new Server({ maxPayload: 0 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new Server({ handshakeTimeout: -1 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });

  it('gives the upgrade hook the request, and the peer its data, subprotocol and headers', async () => {
    let seen: UpgradeRequest | null = null;
    const recorder = new Recorder();
    const { server, port, url } = await listening({}, (s) =>
      s.route(
        '/room',
        recorder.echo<{ user: string }>({
          upgrade(request) {
            seen = request;
            if (request.query.get('user') === 'mallory') throw new UpgradeRejection(403, 'banned');
            return { data: { user: request.query.get('user') ?? '?' }, protocol: request.protocols[1], headers: { 'X-Room': 'lobby' } };
          },
        }),
      ),
    );
    try {
      const ws = await openClient(`${url}/room?user=alice`, ['v1.chat', 'v2.chat'], { headers: { Authorization: 'Bearer t0k3n' } });
      assert.equal(ws.protocol, 'v2.chat');
      const request = seen as unknown as UpgradeRequest;
      assert.equal(request.url, '/room?user=alice');
      assert.equal(request.path, '/room');
      assert.equal(request.query.get('user'), 'alice');
      assert.equal(request.headers['authorization'], 'Bearer t0k3n');
      assert.equal(request.remoteAddress, '127.0.0.1');
      assert.equal(request.transport, 'websocket');
      assert.deepEqual(request.protocols, ['v1.chat', 'v2.chat']);
      const peer = await recorder.nextPeer();
      assert.deepEqual(peer.data, { user: 'alice' });
      assert.equal(peer.protocol, 'v2.chat');
      assert.equal(peer.transport, 'websocket');
      assert.equal(peer.remoteAddress, '127.0.0.1');
      ws.send('hi');
      await nextMessage(ws);
      ws.close(4000, 'bye');
      await closed(ws);
      const close = await recorder.wait('close', peer);
      assert.equal(close.peer.data.user, 'alice', 'data is still there in close');
      assert.deepEqual([close.code, close.reason], [4000, 'bye']);
      assert.deepEqual(
        recorder.events.filter((e) => e.peer === peer).map((e) => e.kind),
        ['open', 'message', 'close'],
      );
      // The extra response header reached the wire.
      const raw = await RawPeer.connect(port);
      raw.write(upgradeRequest('/room?user=bob', 'dGhlIHNhbXBsZSBub25jZQ=='));
      const head = await raw.readHead();
      assert.equal(head.headers['x-room'], 'lobby');
      raw.destroy();
      // A rejection seen by the client: error (HL_ERR_HANDSHAKE_STATUS, 403), then close 1006.
      const refused = new WebSocket(`${url}/room?user=mallory`);
      const events = record(refused);
      await closed(refused);
      assert.deepEqual(events.map((e) => e.type), ['error', 'close']);
      assert.equal(events[0]!.error?.code, 'HL_ERR_HANDSHAKE_STATUS');
      assert.equal(events[0]!.error?.status, 403);
      assert.equal(events[1]!.code, 1006);
    } finally {
      await server.close({ timeout: 200 });
    }
  });

  it('fails only the peer whose open hook throws (1011), and the server goes on', async () => {
    const recorder = new Recorder();
    const { server, url } = await listening({}, (s) => {
      s.route('/bad-open', {
        open() {
          throw new Error('open exploded');
        },
      });
      s.route('*', recorder.echo());
    });
    try {
      const good = await wsClient(`${url}/good`);
      const bad = await openClient(`${url}/bad-open`);
      const close = await closed(bad);
      assert.equal(close.code, 1011);
      assert.equal(close.reason, '');
      await assertEchoes(good);
      await closeWs(good);
    } finally {
      await server.close({ timeout: 200 });
    }
  });

  it('publishes to every subscriber across peers, except the sender with peer.publish', async () => {
    const { server, url } = await listening({}, (s) =>
      s.route('*', {
        open(peer) {
          peer.subscribe('room');
        },
        message(peer, data) {
          if (data.toString() === 'all') s.publish('room', 'to all');
          else peer.publish('room', 'from a peer');
        },
      }),
    );
    try {
      const clients = await Promise.all([1, 2, 3].map(() => openClient(`${url}/`)));
      const all = clients.map((ws) => nextMessage(ws));
      clients[0]!.send('all');
      assert.deepEqual(await Promise.all(all), ['to all', 'to all', 'to all']);
      const others = clients.slice(1).map((ws) => nextMessage(ws));
      let senderGot = false;
      clients[0]!.addEventListener('message', () => (senderGot = true), { once: true });
      clients[0]!.send('others');
      assert.deepEqual(await Promise.all(others), ['from a peer', 'from a peer']);
      await delay(30);
      assert.equal(senderGot, false);
      for (const ws of clients) ws.close();
      await Promise.all(clients.map((ws) => closed(ws)));
    } finally {
      await server.close({ timeout: 200 });
    }
  });
});

describe('graceful shutdown', { timeout: 15_000 }, () => {
  it('sends 1001 to every peer, waits for their closing handshakes up to the deadline, then drops the rest', async () => {
    const recorder = new Recorder();
    const { server, port, url } = await listening({}, (s) => s.route('*', recorder.echo()));
    const hotlineClient = await openClient(`${url}/hotline`);
    const wsPeer = await wsClient(`${url}/ws`);
    // Never answers the Close and keeps its side of TCP open.
    const stubborn = await RawPeer.open(port, '/stubborn', {}, { allowHalfOpen: true });
    await eventually(() => server.connections === 3, 1000, 'three peers');
    const hotlineClosed = closed(hotlineClient);
    const wsClosed = new Promise<[number, string]>((resolve) => wsPeer.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
    const started = Date.now();
    const shutdown = server.close({ timeout: 400 });
    const hotlineClose = await hotlineClosed;
    assert.deepEqual([hotlineClose.code, hotlineClose.reason, hotlineClose.wasClean], [1001, 'server shutting down', true]);
    assert.deepEqual(await wsClosed, [1001, 'server shutting down']);
    assert.ok(Date.now() - started < 300, 'well-behaved peers close at once');
    const close = await stubborn.readClose();
    assert.equal(close.code, 1001);
    await shutdown;
    // Every close hook has run by the time close() resolves, the dropped peer's too.
    assert.equal(recorder.of('close').length, 3);
    assert.equal(server.connections, 0);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 400 - 20, `resolved after ${elapsed} ms`);
    assert.ok(elapsed <= 400 + SLACK, `resolved after ${elapsed} ms`);
    await stubborn.waitEnd(SLACK);
    const codes = recorder.of('close').map((e) => e.code).sort();
    assert.deepEqual(codes, [1001, 1001, 1006]);
    // The listening socket is closed too.
    await assert.rejects(RawPeer.connect(port), { code: 'ECONNREFUSED' });
    stubborn.destroy();
  });

  it('resolves at once when every peer answers, and uses the given code and reason', async () => {
    const { server, url } = await listening({}, (s) => s.route('*', new Recorder().echo()));
    const clients = await Promise.all([1, 2, 3, 4].map(() => openClient(`${url}/`)));
    const closes = clients.map((ws) => closed(ws));
    const started = Date.now();
    await server.close({ timeout: 5000, code: 1012, reason: 'restarting' });
    assert.ok(Date.now() - started < 1000);
    for (const close of await Promise.all(closes)) assert.deepEqual([close.code, close.reason], [1012, 'restarting']);
  });

  it('refuses new upgrades with 503 while shutting down an attached server, and drops pending handshakes', async () => {
    const app = http.createServer((_request, response) => response.end('app still up'));
    const recorder = new Recorder();
    const hotline = new Server()
      .route('/hang', { upgrade: () => new Promise<void>(() => {}) })
      .route('*', recorder.echo());
    hotline.attach(app);
    const port = await listenOn(app);
    const stubborn = await RawPeer.open(port, '/stubborn', {}, { allowHalfOpen: true });
    const pending = await RawPeer.connect(port);
    pending.write(upgradeRequest('/hang', 'dGhlIHNhbXBsZSBub25jZQ=='));
    await delay(30);
    const shutdown = hotline.close({ timeout: 300 });
    assert.equal((await pending.readHead()).status, 503, 'the pending handshake is refused');
    const { head } = await rawRequest(port, upgradeRequest('/late', 'dGhlIHNhbXBsZSBub25jZQ=='));
    assert.equal(head.status, 503);
    assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'app still up', 'the application server is not ours to close');
    await shutdown;
    stubborn.destroy();
    pending.destroy();
    await closeHttp(app);
  });

  it('rejects an invalid close code or reason before shutting anything down', async () => {
    // Regression: the first peer's close() threw after the listener was already closed,
    // leaving a half-closed server whose peers stayed open.
    const { server, url } = await listening({}, (s) => s.route('*', new Recorder().echo()));
    const ws = await wsClient(`${url}/`);
    let another: Awaited<ReturnType<typeof wsClient>> | null = null;
    try {
      await assert.rejects(server.close({ code: 999 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
      await assert.rejects(server.close({ code: 1000, reason: 'x'.repeat(124) }), { code: 'HL_ERR_INVALID_ARGUMENT' });
      await assertEchoes(ws);
      another = await wsClient(`${url}/`);
      await assertEchoes(another);
      const closes = [ws, another].map((c) => new Promise<number>((resolve) => c.once('close', (code: number) => resolve(code))));
      await server.close({ timeout: 500 });
      assert.deepEqual(await Promise.all(closes), [1001, 1001]);
    } finally {
      ws.terminate();
      another?.terminate();
      await server.close({ timeout: 100 });
    }
  });

  it('closes connections that have not sent their request head yet, and stops listening', async () => {
    const { server, port } = await listening({ handshakeTimeout: 10_000 }, (s) => s.route('*', {}));
    const silent = await RawPeer.connect(port);
    const started = Date.now();
    await server.close({ timeout: 5000 });
    await silent.waitClosed(1000);
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(RawPeer.connect(port), { code: 'ECONNREFUSED' });
  });

  it('resolves at once with no peers', async () => {
    const { server } = await listening({}, (s) => s.route('*', {}));
    const started = Date.now();
    await server.close({ timeout: 5000 });
    assert.ok(Date.now() - started < 500);
  });
});
