import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HotlineClient } from '../../src/browser/client.js';
import type { ClientMessageEvent, ClientRecoveryEvent } from '../../src/browser/events.js';
import { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import type { Peer } from '../../src/types.js';
import { ALL, FAST, type TestServer, next, open, startServer, waitFor } from '../transports/helpers.js';

const QUICK_RECONNECT = { minDelay: 30, maxDelay: 60, jitter: 0 };

interface Seen {
  messages: Array<{ data: string; topic: string | undefined; offset: number | undefined }>;
  recoveries: ClientRecoveryEvent[];
}

function watch(client: HotlineClient): Seen {
  const seen: Seen = { messages: [], recoveries: [] };
  client.addEventListener('message', (event) => {
    const { data, topic, position } = event as ClientMessageEvent;
    seen.messages.push({ data: String(data), topic, offset: position?.offset });
  });
  client.addEventListener('recovery', (event) => seen.recoveries.push(event as ClientRecoveryEvent));
  return seen;
}

/** A route that greets each connection, then subscribes it to `news`. */
function newsRoute(peers: Peer[]) {
  return {
    '/news': {
      open(peer: Peer) {
        peers.push(peer);
        peer.send('hello');
        peer.subscribe('news');
      },
    },
  };
}

let servers: TestServer[] = [];
let clients: HotlineClient[] = [];
afterEach(async () => {
  for (const client of clients) client.close();
  await Promise.all(servers.map((ts) => ts.close()));
  servers = [];
  clients = [];
});

describe('the universal client recovers what it missed', () => {
  for (const transport of ALL) {
    it(`over ${transport}: every publication once, in order, and a recovery event`, async () => {
      const peers: Peer[] = [];
      const ts = await startServer(() => newsRoute(peers));
      servers.push(ts);
      const client = open(ts.url('/news'), transport, { reconnect: QUICK_RECONNECT });
      clients.push(client);
      const seen = watch(client);
      await next(client, 'open');
      for (let i = 1; i <= 3; i++) ts.server.publish('news', `n${i}`);
      await waitFor(() => seen.messages.length === 4, 'the first publications');
      // The connection is killed server-side; what is published meanwhile is missed.
      peers[0]!.terminate();
      for (let i = 4; i <= 6; i++) ts.server.publish('news', `n${i}`);
      const recovery = await next<ClientRecoveryEvent>(client, 'recovery', 8000);
      assert.deepEqual(
        { topic: recovery.topic, recovered: recovery.recovered, offset: recovery.offset, missed: recovery.missed, reason: recovery.reason },
        { topic: 'news', recovered: true, offset: 3, missed: 3, reason: undefined },
      );
      ts.server.publish('news', 'n7');
      await waitFor(() => seen.messages.filter((m) => m.topic === 'news').length >= 7, 'n7', 8000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const news = seen.messages.filter((m) => m.topic === 'news');
      assert.deepEqual(news.map((m) => m.data), ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
      assert.deepEqual(news.map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7]);
      // The server's own messages come bare, without a topic: one greeting per connection.
      assert.deepEqual(seen.messages.filter((m) => m.topic === undefined).map((m) => m.data), ['hello', 'hello']);
      assert.equal(seen.recoveries.length, 1);
    });
  }

  it('keeps the envelope on a session moved onto a WebSocket, and recovers after it', async () => {
    const peers: Peer[] = [];
    const ts = await startServer(() => newsRoute(peers));
    servers.push(ts);
    const client = open(ts.url('/news'), 'long-polling', { upgrade: true, reconnect: QUICK_RECONNECT });
    clients.push(client);
    const seen = watch(client);
    await next(client, 'transport', 5000, (event) => (event as unknown as { transport: string }).transport === 'websocket');
    ts.server.publish('news', 'n1');
    await waitFor(() => seen.messages.length === 2, 'n1');
    assert.equal(peers[0]!.transport, 'websocket');
    peers[0]!.terminate();
    ts.server.publish('news', 'n2');
    const recovery = await next<ClientRecoveryEvent>(client, 'recovery', 8000);
    assert.equal(recovery.recovered, true);
    await waitFor(() => seen.messages.some((m) => m.data === 'n2'), 'n2');
    assert.deepEqual(seen.messages.map((m) => `${m.data}@${m.offset}`), ['hello@undefined', 'n1@1', 'hello@undefined', 'n2@2']);
  });

  it('drops a publication it has seen already, and sees a jump in offsets as a gap', async () => {
    const peers: Peer[] = [];
    const ts = await startServer(() => newsRoute(peers));
    servers.push(ts);
    const client = open(ts.url('/news'), 'websocket');
    clients.push(client);
    const seen = watch(client);
    await next(client, 'open');
    await waitFor(() => peers.length === 1, 'the peer');
    const { epoch } = await ts.server.topics.publishAcknowledged('news', Buffer.from('n1'), false);
    const peer = peers[0]!;
    // Straight to the peer, as a replay that overlaps the live feed would: offset 1 again, then 3.
    const { Publication } = await import('../../src/websocket/publication.js');
    peer.unsubscribe('news');
    (peer as unknown as { deliver(p: unknown): void }).deliver(new Publication('news', Buffer.from('again'), false, epoch, 1));
    (peer as unknown as { deliver(p: unknown): void }).deliver(new Publication('news', Buffer.from('n3'), false, epoch, 3));
    await waitFor(() => seen.messages.length === 3, 'n3');
    assert.deepEqual(seen.messages.map((m) => m.data), ['hello', 'n1', 'n3']);
    assert.equal(seen.recoveries.length, 1);
    assert.equal(seen.recoveries[0]!.recovered, false);
    assert.equal(seen.recoveries[0]!.reason, 'gap');
  });

  it('is told recovered: false, reason epoch, when it comes back to another server', async () => {
    const peersA: Peer[] = [];
    const a = new Server({ closeTimeout: 400 });
    for (const [path, handler] of Object.entries(newsRoute(peersA))) a.route(path, handler);
    const transportsA = enableHttpTransports(a, FAST);
    const { port } = await a.listen(0, '127.0.0.1');
    const client = open(`http://127.0.0.1:${port}/news`, 'websocket', { reconnect: QUICK_RECONNECT });
    clients.push(client);
    const seen = watch(client);
    await next(client, 'open');
    a.publish('news', 'a1');
    a.publish('news', 'a2');
    await waitFor(() => seen.messages.length === 3, 'a2');
    // The node goes away; another (a memory engine of its own: a new epoch) takes its port.
    transportsA.close();
    await a.close({ timeout: 100 });
    const peersB: Peer[] = [];
    const b = new Server({ closeTimeout: 400 });
    for (const [path, handler] of Object.entries(newsRoute(peersB))) b.route(path, handler);
    const transportsB = enableHttpTransports(b, FAST);
    await b.listen(port, '127.0.0.1');
    servers.push({ server: b, transports: transportsB, port, url: () => '', close: async () => { transportsB.close(); await b.close({ timeout: 100 }); } });
    const recovery = await next<ClientRecoveryEvent>(client, 'recovery', 8000);
    assert.equal(recovery.recovered, false);
    assert.equal(recovery.reason, 'epoch');
    b.publish('news', 'b1');
    await waitFor(() => seen.messages.some((m) => m.data === 'b1'), 'b1');
    assert.deepEqual(seen.messages.filter((m) => m.topic === 'news').map((m) => `${m.data}@${m.offset}`), ['a1@1', 'a2@2', 'b1@1']);
    assert.equal(seen.recoveries.length, 1);
  });

  it('gives the bare messages with recovery: false', async () => {
    const peers: Peer[] = [];
    const ts = await startServer(() => newsRoute(peers));
    servers.push(ts);
    const client = open(ts.url('/news'), 'long-polling', { recovery: false });
    clients.push(client);
    const seen = watch(client);
    await next(client, 'open');
    await waitFor(() => peers.length === 1, 'the peer');
    ts.server.publish('news', 'n1');
    await waitFor(() => seen.messages.length === 2, 'n1');
    assert.deepEqual(seen.messages, [
      { data: 'hello', topic: undefined, offset: undefined },
      { data: 'n1', topic: undefined, offset: undefined },
    ]);
  });
});
