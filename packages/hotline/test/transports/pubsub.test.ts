import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { HotlineClient } from '../../src/browser/client.js';
import { EnvelopedPublication, Publication } from '../../src/websocket/publication.js';
import type { Peer } from '../../src/types.js';
import { ALL, type TestServer, next, open, recorder, startServer, waitFor } from './helpers.js';

describe('pub/sub across every transport', () => {
  let ts: TestServer;
  const peers = new Map<string, Peer[]>();
  const clients: HotlineClient[] = [];

  before(async () => {
    ts = await startServer((server) => ({
      '/room': {
        open(peer: Peer) {
          peer.subscribe('room');
          peers.set(peer.transport, [...(peers.get(peer.transport) ?? []), peer]);
        },
        message(peer: Peer, data: Buffer, isBinary: boolean) {
          // Everyone in the room but the sender.
          server.publish('room', data, isBinary, { except: peer });
        },
      },
    }));
    for (const transport of ALL) {
      for (let i = 0; i < 2; i++) {
        const client = open(ts.url('/room'), transport);
        clients.push(client);
        await next(client, 'open');
      }
    }
  });
  after(async () => {
    for (const client of clients) client.close();
    await ts.close();
  });

  it('subscribes peers of every transport to the topic', () => {
    assert.equal(ts.server.topics.subscriberCount('room'), ALL.length * 2);
    for (const transport of ALL) {
      for (const peer of peers.get(transport)!) {
        assert.equal(peer.isSubscribed('room'), true);
        assert.deepEqual(peer.topics, ['room']);
      }
    }
  });

  it('reaches every subscriber on every transport except the one excluded', async () => {
    const recorders = clients.map((client) => recorder(client));
    clients[0]!.send('from websocket');
    clients[3]!.send(new Uint8Array([1, 2, 3]));
    await Promise.all(recorders.map((rec, i) => (i === 0 || i === 3 ? Promise.resolve() : rec.until(2))));
    // Delivery is in order: anything more for a client would come before a last publication.
    ts.server.publish('room', 'last');
    await Promise.all(recorders.map((rec, i) => rec.until(i === 0 || i === 3 ? 2 : 3)));
    recorders.forEach((rec, i) => {
      assert.equal(rec.messages.pop(), 'last');
      const expected = i === 0 ? ['hex:010203'] : i === 3 ? ['from websocket'] : ['from websocket', 'hex:010203'];
      assert.deepEqual([...rec.messages].sort(), [...expected].sort(), `client ${i} over ${clients[i]!.transport}`);
    });
  });

  it('builds the WebSocket frame once per publish, whatever the number of WebSocket subscribers', async () => {
    // Counts the frames built: every read of a Publication's frame (or of its enveloped
    // form's, which these universal clients get) that hands out a buffer not seen before.
    let encoded = 0;
    const seen = new Set<Buffer>();
    const restore: Array<() => void> = [];
    for (const prototype of [Publication.prototype, EnvelopedPublication.prototype]) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, 'frame')!;
      Object.defineProperty(prototype, 'frame', {
        configurable: true,
        get(this: Publication) {
          const built = descriptor.get!.call(this) as Buffer;
          if (!seen.has(built)) encoded++;
          seen.add(built);
          return built;
        },
      });
      restore.push(() => Object.defineProperty(prototype, 'frame', descriptor));
    }
    const recorders = clients.map((client) => recorder(client));
    try {
      const reached = ts.server.publish('room', 'once');
      assert.equal(reached, ALL.length * 2);
      assert.equal(encoded, 1);
    } finally {
      for (const undo of restore) undo();
    }
    await Promise.all(recorders.map((rec) => rec.until(1)));
  });

  it('peer.publish reaches the others, not the publisher; unsubscribe and close leave the topic', async () => {
    const [a, b] = peers.get('long-polling')!;
    const recorders = clients.map((client) => recorder(client));
    a!.publish('room', 'from a peer');
    await Promise.all(recorders.map((rec, i) => (clients[i]!.transport === 'long-polling' && i === 4 ? Promise.resolve() : rec.until(1))));
    assert.equal(recorders[4]!.messages.length, 0);
    b!.unsubscribe('room');
    assert.equal(b!.isSubscribed('room'), false);
    assert.equal(ts.server.topics.subscriberCount('room'), ALL.length * 2 - 1);
    clients[2]!.close(); // an SSE client
    await waitFor(() => ts.server.topics.subscriberCount('room') === ALL.length * 2 - 2, 'the closed session to leave the topic');
  });
});
