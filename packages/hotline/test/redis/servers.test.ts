/**
 * Servers on one Redis: what a peer publishes on one node reaches the subscribers of
 * every node, on every transport, with the publisher left out. Real servers, real
 * sockets, a real redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WebSocket as WsClient } from 'ws';
import type { Publication } from '../../src/websocket/publication.js';
import { RedisEngine } from '../../src/redis/index.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { wsClient } from '../support/server.js';
import { delay, eventually } from '../support/timing.js';
import { type TestServer, startServer } from '../transports/helpers.js';
import { rawRequest } from '../support/raw.js';

const skip = redisMissing();

function collect(ws: WsClient): string[] {
  const got: string[] = [];
  ws.on('message', (data) => got.push(data.toString()));
  return got;
}

describe('servers sharing a Redis', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  const servers: TestServer[] = [];
  before(async () => {
    redis = await RedisServer.start();
    for (let i = 0; i < 2; i++) {
      const engine = new RedisEngine<Publication>({ url: redis.url });
      await engine.connect();
      servers.push(
        await startServer(
          () => ({
            '/': {
              open(peer) {
                peer.subscribe('room');
              },
              message(peer, data, isBinary) {
                peer.publish('room', data, isBinary);
              },
            },
          }),
          {},
          { engine },
        ),
      );
    }
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await redis.stop();
  });

  it('carries a peer publish to the subscribers of the other node, and leaves the publisher out', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const onA = await wsClient(`ws://127.0.0.1:${a.port}/`);
    const neighbour = await wsClient(`ws://127.0.0.1:${a.port}/`);
    const onB = await wsClient(`ws://127.0.0.1:${b.port}/`);
    const [gotA, gotNeighbour, gotB] = [collect(onA), collect(neighbour), collect(onB)];
    await delay(50); // the nodes' SUBSCRIBE reaches Redis
    for (let i = 0; i < 50; i++) onA.send(`hello ${i}`);
    const expected = Array.from({ length: 50 }, (_, i) => `hello ${i}`);
    await eventually(() => gotB.length === 50 && gotNeighbour.length === 50, 5_000, 'the publishes on both nodes');
    assert.deepEqual(gotB, expected);
    assert.deepEqual(gotNeighbour, expected);
    await delay(50);
    assert.deepEqual(gotA, []);
    for (const ws of [onA, neighbour, onB]) ws.terminate();
  });

  it('reaches a long-polling session on one node from server.publish on the other', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const handshake = await rawRequest(a.port, 'GET /?transport=long-polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal(handshake.head.status, 200);
    handshake.peer.destroy();
    const sid = /"sid":"([^"]+)"/.exec(handshake.body)?.[1];
    assert.ok(sid !== undefined, handshake.body);
    await delay(50);
    b.server.publish('room', 'across');
    const poll = await rawRequest(a.port, `GET /?transport=long-polling&sid=${sid}&ack=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 3_000);
    assert.equal(poll.head.status, 200);
    assert.match(poll.body, /across/);
    poll.peer.destroy();
  });
});
