/**
 * Regression: a client recovering on a node whose link to Redis was cut was told
 * `recovered: false` within about 100 ms — node-redis fails what it queued as soon as one
 * reconnection attempt fails — although the link came back well within `commandTimeout`.
 * The engine's recovery read now has `commandTimeout` to succeed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine } from '../../src/redis/index.js';
import { bound } from '../pubsub/engine-contract.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';

const skip = redisMissing();

describe('a recovery on a node whose link to Redis is severed', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  let link: FaultProxy;
  let node: RedisEngine<PublishedMessage>;
  let publisher: RedisEngine<PublishedMessage>;

  before(async () => {
    redis = await RedisServer.start();
    link = await FaultProxy.start(redis.port);
    node = bound(new RedisEngine<PublishedMessage>({ url: link.url, commandTimeout: 3_000 }));
    publisher = bound(new RedisEngine<PublishedMessage>({ url: redis.url, commandTimeout: 500 }));
    await Promise.all([node.connect(), publisher.connect()]);
  });

  after(async () => {
    await Promise.all([node?.close(), publisher?.close()]);
    await link?.close();
    await redis?.stop();
  });

  it('waits for the link to come back within commandTimeout, and recovers', async () => {
    const first = await publisher.publishAcknowledged('t', Buffer.from('a'), false);
    link.sever();
    for (const data of ['b', 'c']) await publisher.publishAcknowledged('t', Buffer.from(data), false);
    await delay(100);
    const started = Date.now();
    const recovery = node.recover('t', { epoch: first.epoch, offset: first.offset }, 10);
    setTimeout(() => link.restore(), 1_000);
    const result = await recovery;
    assert.ok(Date.now() - started >= 900, 'the answer waited for the link');
    assert.equal(result.recovered, true);
    assert.deepEqual(result.recovered && result.messages.map((m) => m.data.toString()), ['b', 'c']);
  });
});
