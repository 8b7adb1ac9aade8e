/**
 * `server.publish()` returns what was really delivered: a subscriber over its limits does
 * not get the message, is not counted, and is named to `onDropped`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Peer } from '../../src/types.js';
import { rawRequest } from '../support/raw.js';
import type { WebSocket as WsClient } from 'ws';
import { Publication } from '../../src/websocket/publication.js';
import { wsClient } from '../support/server.js';
import { eventually } from '../support/timing.js';
import { startServer } from '../transports/helpers.js';

describe('server.publish()', { timeout: 10_000 }, () => {
  it('counts only the subscribers that took the message, and names those that dropped it', async () => {
    let opened: Peer<unknown> | null = null;
    const { server, port } = await startServer(
      () => ({
        '/': {
          open(peer) {
            peer.subscribe('news');
            opened = peer;
          },
        },
      }),
      { maxQueueMessages: 1 },
    );
    try {
      // A polling session that never polls: its queue holds one message, then refuses.
      const handshake = await rawRequest(port, 'GET /?transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal(handshake.head.status, 200);
      assert.notEqual(opened, null);
      const dropped: Peer<unknown>[] = [];
      assert.equal(server.publish('news', 'first', false, { onDropped: (peer) => dropped.push(peer) }), 1);
      assert.equal(server.publish('news', 'second', false, { onDropped: (peer) => dropped.push(peer) }), 0);
      assert.deepEqual(dropped, [opened]);
      handshake.peer.destroy();
    } finally {
      await server.close({ timeout: 100 });
    }
  });

  it('refuses a topic that is not a string, as subscribe does', async () => {
    const { server } = await startServer(() => ({ '/': {} }));
    try {
      assert.throws(() => server.publish(42 as unknown as string, 'x'), { code: 'HL_ERR_INVALID_ARGUMENT' });
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});

describe('server.publish() to WebSocket subscribers', { timeout: 10_000 }, () => {
  it('encodes one frame per publish, the same buffer for every subscriber', async () => {
    const { server, url } = await startServer(() => ({ '/': { open: (peer) => peer.subscribe('news') } }));
    const descriptor = Object.getOwnPropertyDescriptor(Publication.prototype, 'frame')!;
    const frames = new Set<Buffer>();
    let reads = 0;
    Object.defineProperty(Publication.prototype, 'frame', {
      ...descriptor,
      get(this: Publication) {
        const frame = descriptor.get!.call(this) as Buffer;
        frames.add(frame);
        reads++;
        return frame;
      },
    });
    const clients: WsClient[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await wsClient(url().replace('http', 'ws')));
      await eventually(() => server.topics.subscriberCount('news') === 3, 2000, 'three subscribers');
      const received = clients.map((ws) => new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data)))));
      assert.equal(server.publish('news', 'once'), 3);
      assert.deepEqual(await Promise.all(received), ['once', 'once', 'once']);
      assert.ok(reads >= 3, 'each subscriber took the frame');
      assert.equal(frames.size, 1, 'one frame for all');
    } finally {
      Object.defineProperty(Publication.prototype, 'frame', descriptor);
      for (const ws of clients) ws.terminate();
      await server.close({ timeout: 100 });
    }
  });
});
