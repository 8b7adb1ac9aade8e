/**
 * What a ws user reaches for first: `peer.ping(data)`, the `ping` and `pong` hooks,
 * `server.peers` and `server.subscriberCount(topic)`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket as WsClient } from 'ws';
import { PeerContext } from '../../src/server/peer.js';
import { Server } from '../../src/server/server.js';
import type { Peer } from '../../src/types.js';
import { closeWs, listening, wsClient } from '../support/server.js';
import { withTimeout } from '../support/timing.js';
import { closed, next, open, startServer, waitFor } from '../transports/helpers.js';

function event<T extends unknown[]>(ws: WsClient, name: string): Promise<T> {
  return withTimeout(new Promise<T>((resolve) => ws.once(name, (...args: unknown[]) => resolve(args as T))), 2000, `ws ${name}`);
}

describe('peer.ping and the ping/pong hooks', { timeout: 10_000 }, () => {
  it('sends a Ping with its data, and the Pong reaches the pong hook', async () => {
    let peer: Peer | null = null;
    const pongs: string[] = [];
    const { server, url } = await listening({}, (s) =>
      s.route('/', {
        open: (p) => void (peer = p),
        pong: (_p, data) => void pongs.push(data.toString()),
      }),
    );
    const ws = await wsClient(url);
    try {
      await waitFor(() => peer !== null, 'open');
      const ping = event<[Buffer]>(ws, 'ping');
      assert.equal(peer!.ping('are you there'), true);
      assert.equal((await ping)[0].toString(), 'are you there');
      await waitFor(() => pongs.length === 1, 'the pong hook');
      assert.deepEqual(pongs, ['are you there']);
      assert.equal(peer!.ping(), true, 'no data: an empty Ping');
      assert.equal(peer!.ping(new Uint8Array([1, 2, 3])), true);
      await waitFor(() => pongs.length === 3, 'two more pongs');
      assert.equal(pongs[1], '');
    } finally {
      await closeWs(ws);
      await server.close({ timeout: 100 });
    }
  });

  it('refuses data over 125 bytes (RFC 6455 §5.5) and a value that is no payload, and returns false once closed', async () => {
    let peer: Peer | null = null;
    const { server, url } = await listening({}, (s) => s.route('/', { open: (p) => void (peer = p) }));
    const ws = await wsClient(url);
    try {
      await waitFor(() => peer !== null, 'open');
      assert.throws(() => peer!.ping(Buffer.alloc(126)), { code: 'HL_ERR_INVALID_ARGUMENT', message: /126 bytes.*125/ });
      assert.throws(() => peer!.ping(42 as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
      assert.equal(peer!.ping(Buffer.alloc(125)), true, '125 bytes is the limit, allowed');
      const closing = event(ws, 'close');
      peer!.close(1000);
      assert.equal(peer!.ping('late'), false, 'closing: not OPEN');
      await closing;
      assert.equal(peer!.ping('later'), false);
    } finally {
      await server.close({ timeout: 100 });
    }
  });

  it("calls the ping hook after the automatic Pong went out, with the Ping's data", async () => {
    const pings: string[] = [];
    const { server, url } = await listening({}, (s) => s.route('/', { ping: (_p, data) => void pings.push(data.toString()) }));
    const ws = await wsClient(url);
    try {
      const pong = event<[Buffer]>(ws, 'pong');
      ws.ping('hello');
      assert.equal((await pong)[0].toString(), 'hello');
      await waitFor(() => pings.length === 1, 'the ping hook');
      assert.deepEqual(pings, ['hello']);
    } finally {
      await closeWs(ws);
      await server.close({ timeout: 100 });
    }
  });

  it('fails the peer with 1011 when a ping hook throws, like any hook', async () => {
    const errors: string[] = [];
    const { server, url } = await listening({}, (s) =>
      s.route('/', {
        ping() {
          throw new Error('boom');
        },
        error: (_p, error) => void errors.push(error.message),
      }),
    );
    const ws = await wsClient(url);
    try {
      const close = event<[number]>(ws, 'close');
      ws.ping();
      assert.equal((await close)[0], 1011);
      await waitFor(() => errors.length === 1, 'the error hook');
      assert.deepEqual(errors, ['boom']);
    } finally {
      await server.close({ timeout: 100 });
    }
  });

  it('hands the pong hook the answers to the heartbeat too', async () => {
    const pongs: number[] = [];
    // idleTimeout 200: a heartbeat Ping at 100 ms.
    const { server, url } = await listening({ idleTimeout: 200, closeTimeout: 100 }, (s) => s.route('/', { pong: () => void pongs.push(Date.now()) }));
    const ws = await wsClient(url);
    try {
      await waitFor(() => pongs.length >= 1, 'a heartbeat pong', 3000);
    } finally {
      await closeWs(ws);
      await server.close({ timeout: 100 });
    }
  });

  it('costs a route without ping and pong hooks nothing: its context has neither', () => {
    const host = new Server();
    const bare = new PeerContext({}, host);
    assert.equal(bare.ping, undefined);
    assert.equal(bare.pong, undefined);
    const hooked = new PeerContext({ ping() {}, pong() {} }, host);
    assert.equal(typeof hooked.ping, 'function');
    assert.equal(typeof hooked.pong, 'function');
  });

  it('returns false and sends nothing from an HTTP-transport peer', async () => {
    let peer: Peer | null = null;
    const test = await startServer(() => ({ '/': { open: (p) => void (peer = p) } }));
    try {
      const client = open(test.url(), 'long-polling');
      await next(client, 'open');
      assert.equal(peer!.transport, 'long-polling');
      assert.equal(peer!.ping('x'), false);
      client.close();
      await closed(client);
    } finally {
      await test.close();
    }
  });
});

describe('server.peers', { timeout: 15_000 }, () => {
  it('lists every open peer of every route and transport, live, and survives closing while iterating', async () => {
    const test = await startServer(() => ({ '/a': {}, '/b/:id': {} }));
    try {
      assert.deepEqual([...test.server.peers], []);
      const clients = [
        open(test.url('/a'), 'websocket'),
        open(test.url('/b/1'), 'websocket'),
        open(test.url('/a'), 'sse'),
        open(test.url('/b/2'), 'polling'),
        open(test.url('/a'), 'long-polling'),
      ];
      await Promise.all(clients.map((client) => next(client, 'open')));
      const peers = [...test.server.peers];
      assert.equal(peers.length, 5);
      assert.deepEqual(peers.map((peer) => peer.transport).sort(), ['long-polling', 'polling', 'sse', 'websocket', 'websocket']);
      assert.equal(new Set(peers.map((peer) => peer.id)).size, 5);
      assert.equal(test.server.connections, 2, 'connections still counts WebSocket peers');
      // Closing every peer from inside the loop: each is visited once, none twice.
      let visited = 0;
      for (const peer of test.server.peers) {
        visited++;
        peer.close(1000, 'bye');
      }
      assert.equal(visited, 5);
      assert.deepEqual([...test.server.peers], [], 'a closing peer is no longer listed');
      await Promise.all(clients.map((client) => closed(client)));
    } finally {
      await test.close();
    }
  });

  it('is a live view: one iterable reflects peers that come and go', async () => {
    const { server, url } = await listening({}, (s) => s.route('/', {}));
    const view = server.peers;
    try {
      const ws = await wsClient(url);
      await waitFor(() => [...view].length === 1, 'the new peer in the view');
      await closeWs(ws);
      await waitFor(() => [...view].length === 0, 'the peer gone from the view');
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});

describe('server.subscriberCount', { timeout: 10_000 }, () => {
  it('counts the subscribers of a topic on every transport', async () => {
    const test = await startServer(() => ({
      '/': {
        open: (peer) => peer.subscribe('news'),
        message: (peer, data) => peer.unsubscribe(data.toString()),
      },
    }));
    try {
      assert.equal(test.server.subscriberCount('news'), 0);
      const ws = open(test.url(), 'websocket');
      const sse = open(test.url(), 'sse');
      await Promise.all([next(ws, 'open'), next(sse, 'open')]);
      assert.equal(test.server.subscriberCount('news'), 2);
      assert.equal(test.server.subscriberCount('other'), 0);
      ws.send('news');
      await waitFor(() => test.server.subscriberCount('news') === 1, 'the unsubscription');
      sse.close();
      await closed(sse);
      await waitFor(() => test.server.subscriberCount('news') === 0, 'the closed subscriber gone');
      ws.close();
      await closed(ws);
    } finally {
      await test.close();
    }
  });

  it('refuses a topic that is not a string, as publish does', () => {
    const server = new Server();
    assert.throws(() => server.subscriberCount(42 as never), { code: 'HL_ERR_INVALID_ARGUMENT', message: /topic must be a string/ });
    assert.throws(() => server.publish(42 as never, 'x'), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});
