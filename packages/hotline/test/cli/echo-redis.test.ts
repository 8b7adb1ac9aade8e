/**
 * `hotline echo --redis URL`: several echo processes on one Redis are one service. A
 * message on /broadcast reaches the members of every node, and an HTTP session whose
 * requests land on both nodes (a round-robin balancer, no affinity) keeps working, its
 * requests routed to the node that owns it (`--advertise`). A Redis that is not there is
 * an error at boot, not a hang.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WebSocket as WsClient } from 'ws';
import type { ClientMessageEvent } from '../../src/browser/events.js';
import { RedisServer, freePort, redisMissing } from '../support/redis-server.js';
import { roundRobin, type RoundRobin } from '../support/round-robin.js';
import { closeWs, wsClient } from '../support/server.js';
import { withTimeout } from '../support/timing.js';
import { next, open } from '../transports/helpers.js';
import { type Echo, run, startEcho } from './run.js';

const skip = redisMissing();

function nextText(ws: WsClient, ms = 3000): Promise<string> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString()))), ms, 'a message');
}

describe('hotline echo --redis', { skip, timeout: 40_000 }, () => {
  let redis: RedisServer;
  let nodes: Echo[] = [];
  let balancer: RoundRobin;
  before(async () => {
    redis = await RedisServer.start();
    nodes = await Promise.all(
      [0, 1].map(async () => {
        const port = await freePort();
        return startEcho(['--port', String(port), '--redis', redis.url, '--advertise', `http://127.0.0.1:${port}`]);
      }),
    );
    balancer = await roundRobin(nodes.map((node) => node.port));
  });
  after(async () => {
    await balancer?.close();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
  });

  it('relays /broadcast across nodes, to WebSockets and to an HTTP session spread over both', async () => {
    const [a, b] = await Promise.all(nodes.map((node) => wsClient(`ws://127.0.0.1:${node.port}/broadcast`)));
    const poller = open(`http://127.0.0.1:${balancer.port}/broadcast`, 'long-polling');
    try {
      await next(poller, 'open');
      const heard = [nextText(a!), nextText(b!)];
      const polled = next<ClientMessageEvent>(poller, 'message');
      a!.send('from node one');
      assert.deepEqual(await Promise.all(heard), ['from node one', 'from node one']);
      assert.equal(String((await polled).data), 'from node one');
      // The poller's upstream POST lands on either node; the owner publishes it to all.
      const back = [nextText(a!), nextText(b!)];
      poller.send('from the poller');
      assert.deepEqual(await Promise.all(back), ['from the poller', 'from the poller']);
      assert.ok(balancer.counts.every((n) => n > 0), `requests reached both nodes: ${balancer.counts.join(', ')}`);
    } finally {
      poller.close();
      await Promise.all([a!, b!].map((ws) => closeWs(ws)));
    }
  });

  it('fails at boot with a clear message when Redis is not there: exit 1, no stack', async () => {
    const result = await run(['echo', '--port', '0', '--redis', `redis://127.0.0.1:${await freePort()}`], '', 15_000);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^hotline: .*connecting.*HL_ERR_ENGINE_UNAVAILABLE|^hotline: .*HL_ERR_ENGINE_UNAVAILABLE/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
