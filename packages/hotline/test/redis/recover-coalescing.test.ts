/**
 * Recoveries of one topic on one node share their Redis READs (a reconnect storm costs
 * reads per topic, not per client), and each caller still gets exactly what its own read
 * would have given. The reference is an engine that does not listen to the topic: its
 * recoveries are read one by one. READs are counted by Redis itself (`INFO commandstats`)
 * and by the engine. Also here: a Redis outage under fire-and-forget publishes is warned
 * of once, with the drops counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import type { RecoveryResult } from '../../src/pubsub/engine.js';
import type { StreamPosition } from '../../src/protocol/position.js';
import { RedisEngine, type RedisEngineOptions } from '../../src/redis/index.js';
import { Recording, bound } from '../pubsub/engine-contract.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { delay, eventually } from '../support/timing.js';

const skip = redisMissing();
let topicSeq = 0;
const fresh = (name: string) => `${name}:${process.pid}:${topicSeq++}`;

type Ask = { since: StreamPosition; limit: number };

/** Scripts Redis ran (EVALSHA and EVAL), as it counts them; not an EVALSHA refused as unknown (NOSCRIPT, then EVAL). */
async function scriptsRun(admin: ReturnType<typeof createClient>): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),.*failed_calls=(\d+)/gm)) calls += Number(match[1]) - Number(match[2]);
  return calls;
}

describe('coalesced recovery reads of the Redis engine', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const engines: RedisEngine<PublishedMessage>[] = [];
  const node = async (options: RedisEngineOptions = {}) => {
    const engine = bound(new RedisEngine<PublishedMessage>({ url: redis.url, ...options }));
    engines.push(engine);
    await engine.connect();
    return engine;
  };
  const scripts = () => scriptsRun(admin);
  /** A listening node with `count` publications on a fresh topic, all delivered to it. */
  const published = async (count: number, options: RedisEngineOptions = {}) => {
    const engine = await node(options);
    const topic = fresh('storm');
    const local = new Recording();
    engine.subscribe(local, topic);
    let epoch = '';
    for (let i = 1; i <= count; i++) epoch = (await engine.publishAcknowledged(topic, Buffer.from(`m${i}`), false)).epoch;
    await local.until(count);
    return { engine, topic, epoch, local };
  };
  /** The recoveries one by one, on a node that does not listen to the topic. */
  const alone = async (reference: RedisEngine<PublishedMessage>, topic: string, asks: readonly Ask[]) => {
    const out: RecoveryResult<PublishedMessage>[] = [];
    for (const { since, limit } of asks) out.push(await reference.recover(topic, since, limit));
    return out;
  };
  const together = (engine: RedisEngine<PublishedMessage>, topic: string, asks: readonly Ask[]) =>
    Promise.all(asks.map(({ since, limit }) => engine.recover(topic, since, limit)));

  before(async () => {
    redis = await RedisServer.start();
    admin = createClient({ url: redis.url });
    await admin.connect();
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await admin?.close();
    await redis?.stop();
  });

  it('answers 200 concurrent recoveries from different positions with one READ, each as its own read would', async () => {
    const { engine, topic, epoch } = await published(50);
    const asks: Ask[] = [];
    for (let i = 0; i < 200; i++) asks.push({ since: { epoch, offset: i % 51 }, limit: i % 7 === 0 ? 10 : 10_000 });
    asks.push({ since: { epoch, offset: 60 }, limit: 100 }); // ahead of the stream: 'epoch'
    const before = await scripts();
    const reads = engine.recoveryReads;
    const got = await together(engine, topic, asks);
    assert.equal((await scripts()) - before, 1, 'Redis ran one script for 201 recoveries');
    assert.equal(engine.recoveryReads - reads, 1);
    const reference = await node();
    assert.deepEqual(got, await alone(reference, topic, asks));
    // What the answers are: a sample, so that identical-but-wrong cannot pass.
    assert.equal(got[3]!.recovered && got[3]!.messages.length, 47);
    assert.equal(!got[14]!.recovered && got[14]!.reason, 'retention'); // 36 behind, limit 10
    assert.equal(!got[200]!.recovered && got[200]!.reason, 'epoch');
  });

  it('answers positions of another epoch and positions past the history per caller, in one READ per epoch asked', async () => {
    const { engine, topic, epoch } = await published(30, { historySize: 10 });
    const asks: Ask[] = [0, 10, 19, 20, 25, 29, 30].map((offset) => ({ since: { epoch, offset }, limit: 10_000 }));
    asks.push({ since: { epoch: 'an-old-epoch', offset: 25 }, limit: 10_000 }, { since: { epoch: 'an-old-epoch', offset: 3 }, limit: 5 });
    const before = await scripts();
    const got = await together(engine, topic, asks);
    assert.equal((await scripts()) - before, 2, 'one READ for each epoch asked');
    const reference = await node({ historySize: 10 });
    assert.deepEqual(got, await alone(reference, topic, asks));
    assert.deepEqual(
      got.map((result) => (result.recovered ? result.messages.length : result.reason)),
      ['retention', 'retention', 'retention', 10, 5, 1, 0, 'epoch', 'epoch'],
    );
  });

  it('answers from a new epoch when Redis lost the topic, though the node still has the old one', async () => {
    const { engine, topic, epoch } = await published(8);
    await admin.del([`hotline:m:${topic}`, `hotline:s:${topic}`]);
    const asks: Ask[] = [0, 4, 8].map((offset) => ({ since: { epoch, offset }, limit: 100 }));
    const got = await together(engine, topic, asks);
    const reference = await node();
    assert.deepEqual(got, await alone(reference, topic, asks));
    const renewed = got[0]!.epoch;
    assert.notEqual(renewed, epoch);
    for (const result of got) assert.equal(!result.recovered && result.reason, 'epoch');
    // A client told the new epoch recovers in it.
    const after = await engine.recover(topic, { epoch: renewed, offset: 0 }, 100);
    assert.deepEqual(after, { recovered: true, epoch: renewed, offset: 0, messages: [] });
  });

  it('answers later recoveries from the last reply and what the live feed delivered since, without a READ', async () => {
    const { engine, topic, epoch, local } = await published(20, { historySize: 25 });
    await together(engine, topic, [{ since: { epoch, offset: 5 }, limit: 100 }]);
    for (let i = 21; i <= 30; i++) await engine.publishAcknowledged(topic, Buffer.from(`m${i}`), false);
    await local.until(30);
    const asks: Ask[] = [0, 4, 5, 12, 25, 29, 30].map((offset) => ({ since: { epoch, offset }, limit: 100 }));
    const before = await scripts();
    const reads = engine.recoveryReads;
    const got = await together(engine, topic, asks);
    assert.equal((await scripts()) - before, 0, 'no READ: the reply of a moment ago, brought up to the feed');
    assert.equal(engine.recoveryReads, reads);
    const reference = await node({ historySize: 25 });
    assert.deepEqual(got, await alone(reference, topic, asks));
    // 30 published, 25 kept: 5 is the last position that can recover.
    assert.deepEqual(
      got.map((result) => (result.recovered ? result.messages.map((m) => m.offset).join(',') : result.reason)),
      ['retention', 'retention', '6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30', '13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30', '26,27,28,29,30', '30', ''],
    );
  });

  it('reads again once the last reply is older than the reuse window', async () => {
    const { engine, topic, epoch } = await published(3);
    await engine.recover(topic, { epoch, offset: 1 }, 100);
    await delay(1_100);
    const before = await scripts();
    const result = await engine.recover(topic, { epoch, offset: 1 }, 100);
    assert.equal((await scripts()) - before, 1);
    assert.equal(result.recovered && result.messages.length, 2);
  });
});

describe('presence and the node directory in a reconnect storm', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const calls = async (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(await admin.info('commandstats'))?.[1] ?? 0);
  before(async () => {
    redis = await RedisServer.start();
    admin = createClient({ url: redis.url });
    await admin.connect();
  });
  after(async () => {
    await admin?.close();
    await redis?.stop();
  });

  it('sends the joins and the members asked of one topic in one turn as one JOIN and one sweep', async () => {
    const engine = bound(new RedisEngine<PublishedMessage>({ url: redis.url }));
    const watcher = bound(new RedisEngine<PublishedMessage>({ url: redis.url }));
    try {
      await Promise.all([engine.connect(), watcher.connect()]);
      const topic = fresh('presence');
      const events: string[] = [];
      watcher.presence.watch(topic, (event) => events.push(`${event.type} ${event.member.id}`));
      await delay(100); // the watcher's SUBSCRIBE is in
      const before = await scriptsRun(admin);
      const answers: Promise<{ id: string }[]>[] = [];
      for (let i = 0; i < 100; i++) {
        engine.presence.join(topic, { id: `${engine.instanceId}.${i}`, data: { i } });
        answers.push(engine.presence.members(topic));
      }
      const lists = await Promise.all(answers);
      assert.equal((await scriptsRun(admin)) - before, 2, 'one JOIN and one sweep for 100 members');
      // Whoever joined and asked is in the answer (the joins go first).
      for (const [i, list] of lists.entries()) assert.ok(list.some((member) => member.id === `${engine.instanceId}.${i}`), `member ${i} sees itself`);
      assert.equal(lists[0]!.length, 100);
      await eventually(() => events.length === 100, 2_000, '100 join events');
      assert.deepEqual(events, Array.from({ length: 100 }, (_, i) => `join ${engine.instanceId}.${i}`));
      // A join and a leave in one turn stay in that order.
      engine.presence.join(topic, { id: `${engine.instanceId}.x`, data: null });
      engine.presence.leave(topic, `${engine.instanceId}.x`);
      engine.presence.join(topic, { id: `${engine.instanceId}.0`, data: { i: 'again' } });
      const members = await engine.presence.members(topic);
      assert.equal(members.length, 100);
      assert.ok(!members.some((member) => member.id === `${engine.instanceId}.x`));
      assert.deepEqual(members.find((member) => member.id === `${engine.instanceId}.0`)?.data, { i: 'again' });
      await eventually(() => events.length === 102, 2_000, 'the join and leave of x');
      assert.deepEqual(events.slice(100), [`join ${engine.instanceId}.x`, `leave ${engine.instanceId}.x`]);
    } finally {
      await Promise.all([engine.close(), watcher.close()]);
    }
  });

  it('shares one GET among the lookups of one node asked while it is on its way', async () => {
    const a = bound(new RedisEngine<PublishedMessage>({ url: redis.url }));
    const b = bound(new RedisEngine<PublishedMessage>({ url: redis.url }));
    try {
      await Promise.all([a.connect(), b.connect()]);
      a.nodes.advertise('http://127.0.0.1:8081');
      await delay(50);
      const before = await calls('get');
      const found = await Promise.all(Array.from({ length: 500 }, () => b.nodes.lookup(a.instanceId)));
      assert.equal((await calls('get')) - before, 1);
      assert.deepEqual(new Set(found), new Set(['http://127.0.0.1:8081']));
      await a.close();
      assert.equal(await b.nodes.lookup(a.instanceId), undefined, 'forgotten once it left');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('fire-and-forget publishes during a Redis outage', { skip, timeout: 30_000 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis?.stop());

  it('warns once per outage, and counts every publish dropped', async () => {
    const proxy = await FaultProxy.start(redis.port);
    const errors: Error[] = [];
    const engine = bound(new RedisEngine<PublishedMessage>({ url: proxy.url, commandTimeout: 200 }), errors);
    try {
      await engine.connect();
      const topic = fresh('outage');
      await engine.publishAcknowledged(topic, Buffer.from('before'), false);
      const warnings = () => errors.filter((error) => /^publish on /.test(error.message));
      for (let outage = 1; outage <= 2; outage++) {
        proxy.sever();
        for (let i = 0; i < 50; i++) engine.publish(topic, Buffer.from(`lost ${i}`), false);
        await eventually(() => engine.droppedPublishes === 50 * outage, 5_000, `${50 * outage} publishes dropped`);
        assert.equal(warnings().length, outage, `one warning for outage ${outage}`);
        assert.match(warnings().at(-1)!.message, new RegExp(`\\(${50 * (outage - 1) + 1} dropped so far`));
        assert.equal((warnings().at(-1) as { code?: string }).code, 'HL_ERR_ENGINE_UNAVAILABLE');
        proxy.restore();
        // Redis is back once a publish goes through: that ends the outage.
        await eventually(() => engine.droppedPublishes === 50 * outage && errors.length > 0, 1_000, 'errors recorded');
        for (let tries = 0; ; tries++) {
          const ack = await engine.publishAcknowledged(topic, Buffer.from('back'), false).catch(() => undefined);
          if (ack !== undefined) break;
          assert.ok(tries < 50, 'Redis took a publish again');
          await delay(100);
        }
      }
      assert.equal(engine.droppedPublishes, 100);
      assert.equal(warnings().length, 2);
    } finally {
      await engine.close();
      await proxy.close();
    }
  });
});
