/**
 * Regression: after Redis restarted empty (no persistence), a node was missing from the
 * node directory until its next periodic refresh (a third of `presenceTtl`, 10 s by
 * default). Meanwhile every request of its HTTP sessions that a non-sticky balancer sent
 * to another node was answered "unknown session", and long-polling clients churned
 * through new sessions (into `HL_ERR_TOO_MANY_UNCONFIRMED`) for seconds. A node now
 * advertises itself again as soon as its link to Redis is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine } from '../../src/redis/index.js';
import { bound } from '../pubsub/engine-contract.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';

const skip = redisMissing();

describe('the node directory across a Redis restart without persistence', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  let owner: RedisEngine<PublishedMessage>;
  let other: RedisEngine<PublishedMessage>;

  before(async () => {
    redis = await RedisServer.start();
    // The default presenceTtl (30 s): a periodic refresh would come only after 10 s.
    owner = bound(new RedisEngine<PublishedMessage>({ url: redis.url, commandTimeout: 500 }));
    other = bound(new RedisEngine<PublishedMessage>({ url: redis.url, commandTimeout: 500 }));
    await Promise.all([owner.connect(), other.connect()]);
  });

  after(async () => {
    await Promise.all([owner?.close(), other?.close()]);
    await redis?.stop();
  });

  it('lists a node again as soon as its link to Redis is back', async () => {
    owner.nodes.advertise('http://127.0.0.1:8081');
    const listed = async (ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const url = await other.nodes.lookup(owner.instanceId).catch(() => undefined);
        if (url !== undefined || Date.now() > deadline) return url;
        await delay(20);
      }
    };
    assert.equal(await listed(2_000), 'http://127.0.0.1:8081');
    await redis.kill();
    await redis.launch();
    // Both links reconnect within about half a second (node-redis backs off up to 500 ms).
    assert.equal(await listed(3_000), 'http://127.0.0.1:8081', 'the node is back in the directory within 3 s, not at its next refresh');
  });
});
