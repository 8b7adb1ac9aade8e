/**
 * Routes with parameters, end to end: the params reach `upgrade` (request.params) and the
 * peer (peer.params) on every transport, the most specific route serves a request
 * whatever the order of registration, and registering a route twice is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Server } from '../../src/server/server.js';
import type { Handler, Peer, RouteParams } from '../../src/types.js';
import { ALL, closed, next, open, startServer } from '../transports/helpers.js';
import { rawRequest } from '../support/raw.js';

interface Seen {
  route: string;
  transport: string;
  request: RouteParams;
  peer: RouteParams;
}

function reporting(route: string, seen: Seen[]): Handler<RouteParams> {
  return {
    upgrade: (request) => ({ data: request.params }),
    open(peer: Peer<RouteParams>) {
      seen.push({ route, transport: peer.transport, request: { ...peer.data }, peer: { ...peer.params } });
      peer.send(JSON.stringify({ route, params: peer.params }));
    },
  };
}

describe('route params on every transport', { timeout: 30_000 }, () => {
  for (const transport of ALL) {
    it(`${transport}: upgrade and the peer see the params of the route that matched`, async () => {
      const seen: Seen[] = [];
      const test = await startServer(() => ({
        '/static/*': reporting('/static/*', seen),
        '/rooms/:id': reporting('/rooms/:id', seen),
        '/rooms/lobby': reporting('/rooms/lobby', seen),
      }));
      try {
        for (const [path, route, params] of [
          ['/rooms/caf%C3%A9', '/rooms/:id', { id: 'café' }],
          ['/rooms/lobby', '/rooms/lobby', {}],
          ['/static/css/site.css', '/static/*', { '*': 'css/site.css' }],
        ] as const) {
          const client = open(test.url(path), transport);
          const message = await next<MessageEvent>(client, 'message');
          assert.deepEqual(JSON.parse(message.data as string), { route, params });
          client.close();
          await closed(client);
          const last = seen.at(-1)!;
          assert.deepEqual(last, { route, transport, request: params, peer: params });
        }
      } finally {
        await test.close();
      }
    });
  }

  it('shares one frozen empty params object among the peers of literal routes', async () => {
    const peers: Peer[] = [];
    const test = await startServer(() => ({ '/a': { open: (peer) => void peers.push(peer) }, '/b': { open: (peer) => void peers.push(peer) } }));
    try {
      const clients = [open(test.url('/a'), 'websocket'), open(test.url('/b'), 'websocket'), open(test.url('/a'), 'polling')];
      await Promise.all(clients.map((client) => next(client, 'open')));
      assert.equal(peers.length, 3);
      assert.ok(Object.isFrozen(peers[0]!.params));
      assert.equal(peers[0]!.params, peers[1]!.params);
      assert.equal(peers[0]!.params, peers[2]!.params);
      for (const client of clients) client.close();
      await Promise.all(clients.map((client) => closed(client)));
    } finally {
      await test.close();
    }
  });

  it('answers 404 to a WebSocket handshake no pattern matches, and leaves other requests to the application', async () => {
    const test = await startServer(() => ({ '/rooms/:id': {} }));
    try {
      const key = 'dGhlIHNhbXBsZSBub25jZQ==';
      const upgrade = (path: string) =>
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      assert.equal((await rawRequest(test.port, upgrade('/rooms'))).head.status, 404);
      assert.equal((await rawRequest(test.port, upgrade('/rooms/1/2'))).head.status, 404);
      assert.equal((await rawRequest(test.port, upgrade('/rooms/%zz'))).head.status, 404, 'malformed percent-encoding matches nothing');
      assert.equal((await rawRequest(test.port, upgrade('/rooms/1?x=2'))).head.status, 101);
      assert.equal((await rawRequest(test.port, 'GET /rooms?transport=polling HTTP/1.1\r\nHost: x\r\n\r\n')).head.status, 404);
    } finally {
      await test.close();
    }
  });
});

describe('server.route', () => {
  it('refuses a path registered twice, or a pattern of the same shape, with HL_ERR_ROUTE_EXISTS', () => {
    const server = new Server();
    const first: Handler = {};
    server.route('/chat', first).route('/rooms/:id', {});
    assert.throws(() => server.route('/chat', {}), { code: 'HL_ERR_ROUTE_EXISTS', message: /"\/chat"/ });
    assert.throws(() => server.route('/rooms/:name', {}), { code: 'HL_ERR_ROUTE_EXISTS', message: /same shape/ });
    assert.equal(server.findRoute('/chat')!.handler, first, 'the first route stays');
  });

  it('refuses a malformed pattern or handler with HL_ERR_INVALID_ARGUMENT', () => {
    const server = new Server();
    assert.throws(() => server.route('/files/*/x', {}), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => server.route('/a/:id/:id', {}), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => server.route('/a/:', {}), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => server.route('chat', {}), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => server.route('/chat', null as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });

  it("refuses the HTTP transports' client path when the application registers it after them", async () => {
    const test = await startServer(() => ({ '/': {} }));
    try {
      assert.throws(() => test.server.route('/hotline.js', {}), { code: 'HL_ERR_ROUTE_EXISTS' });
    } finally {
      await test.close();
    }
  });
});
