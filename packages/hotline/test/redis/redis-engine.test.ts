/**
 * The Redis engine beyond the contract: several nodes on one Redis, and the failures a
 * production deployment meets — a cut link, a lost message, Redis killed with and without
 * persistence, a node that crashes. Real redis-servers, one per test that breaks it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { PresenceEvent } from '../../src/pubsub/engine.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine, type RedisEngineOptions } from '../../src/redis/index.js';
import { Recording, bound } from '../pubsub/engine-contract.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { delay, eventually } from '../support/timing.js';

const skip = redisMissing();
let topicSeq = 0;
const fresh = (name: string) => `${name}:${process.pid}:${topicSeq++}`;
const text = (s: string) => Buffer.from(s);

/** Engines made for a test, closed at its end. */
class Nodes {
  readonly all: RedisEngine<PublishedMessage>[] = [];
  readonly errors: Error[] = [];
  async node(url: string, options: RedisEngineOptions = {}): Promise<RedisEngine<PublishedMessage>> {
    const engine = bound(new RedisEngine<PublishedMessage>({ url, ...options }), this.errors);
    this.all.push(engine);
    await engine.connect();
    return engine;
  }
  close(): Promise<unknown> {
    return Promise.all(this.all.map((engine) => engine.close()));
  }
}

/** Offsets strictly increasing by one from `first`, all of `epoch`. */
function assertContiguous(got: readonly PublishedMessage[], first: number, count: number, epoch?: string): void {
  assert.equal(got.length, count, `${got.length} messages, ${count} expected`);
  got.forEach((message, i) => {
    assert.equal(message.offset, first + i, `message ${i} has offset ${message.offset}`);
    if (epoch !== undefined) assert.equal(message.epoch, epoch);
  });
}

describe('RedisEngine across nodes', { skip, timeout: 60_000 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.stop());

  it('delivers every publication to the subscribers of every node, in one order, once per node', async () => {
    const nodes = new Nodes();
    try {
      const [a, b, c] = await Promise.all([nodes.node(redis.url), nodes.node(redis.url), nodes.node(redis.url)]);
      const topic = fresh('fan');
      const onA = new Recording();
      const onB = [new Recording(), new Recording()];
      const onC = new Recording();
      a!.subscribe(onA, topic);
      for (const each of onB) b!.subscribe(each, topic);
      c!.subscribe(onC, topic);
      // Publishes from two nodes at once: every node sees the same total order.
      const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a! : c!).publishAcknowledged(topic, text(`m${i}`), false)));
      assert.deepEqual(acks.map((ack) => ack.offset).sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i + 1));
      for (const each of [onA, ...onB, onC]) await each.until(300);
      assertContiguous(onA.got, 1, 300, acks[0]!.epoch);
      for (const each of [...onB, onC]) assert.deepEqual(each.texts(), onA.texts());
      // One message object per node, shared by its subscribers.
      onB[0]!.got.forEach((message, i) => assert.equal(message, onB[1]!.got[i]));
      assert.deepEqual(nodes.errors, []);
    } finally {
      await nodes.close();
    }
  });

  it('leaves out the excepted subscriber on the publishing node only', async () => {
    const nodes = new Nodes();
    try {
      const [a, b] = await Promise.all([nodes.node(redis.url), nodes.node(redis.url)]);
      const topic = fresh('except');
      const publisher = new Recording();
      const neighbour = new Recording();
      const remote = new Recording();
      a!.subscribe(publisher, topic);
      a!.subscribe(neighbour, topic);
      b!.subscribe(remote, topic);
      await a!.recover(topic, { epoch: 'x', offset: 0 }, 0); // the live feed is up on a
      await b!.recover(topic, { epoch: 'x', offset: 0 }, 0);
      assert.equal(a!.publish(topic, text('hello'), false, { except: publisher }), 1);
      await neighbour.until(1);
      await remote.until(1);
      await delay(30);
      assert.equal(publisher.got.length, 0);
    } finally {
      await nodes.close();
    }
  });

  it('fills a hole in its live feed from history before it delivers further', async () => {
    const nodes = new Nodes();
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      const node = await nodes.node(redis.url);
      const topic = fresh('hole');
      const seen = new Recording();
      node.subscribe(seen, topic);
      const first = await node.publishAcknowledged(topic, text('one'), false);
      await seen.until(1);
      // Offset 2 goes into history but never onto the channel: a message lost on the way.
      await raw.hIncrBy(`hotline:m:${topic}`, 'seq', 1);
      await raw.xAdd(`hotline:s:${topic}`, '2-0', { d: 'two', b: 't', o: `${node.instanceId} 0` });
      // A bad envelope on the channel is refused and reported, and changes nothing else.
      await raw.publish(`hotline:c:${topic}`, 'h9 garbage');
      await node.publishAcknowledged(topic, text('three'), false);
      await seen.until(3);
      assertContiguous(seen.got, 1, 3, first.epoch);
      assert.deepEqual(seen.texts(), ['one', 'two', 'three']);
      assert.ok(nodes.errors.some((error) => (error as { code?: string }).code === 'HL_ERR_INVALID_ENVELOPE'));
    } finally {
      await raw.close();
      await nodes.close();
    }
  });

  it('shows no gap when its link to Redis is cut and restored while another node publishes', async () => {
    const proxy = await FaultProxy.start(redis.port);
    const nodes = new Nodes();
    try {
      const publisher = await nodes.node(redis.url);
      const cutOff = await nodes.node(proxy.url);
      const topic = fresh('cut');
      const seen = new Recording();
      cutOff.subscribe(seen, topic);
      await cutOff.recover(topic, { epoch: 'x', offset: 0 }, 0);
      let sent = 0;
      const publishing = (async () => {
        for (; sent < 150; sent++) {
          await publisher.publishAcknowledged(topic, text(`m${sent}`), false);
          await delay(2);
        }
      })();
      await eventually(() => seen.got.length >= 20, 5_000, 'the first deliveries');
      proxy.sever();
      await delay(300);
      proxy.restore();
      await publishing;
      await seen.until(150);
      assertContiguous(seen.got, 1, 150);
      assert.ok(nodes.errors.some((error) => (error as { code?: string }).code === 'HL_ERR_ENGINE_UNAVAILABLE'), 'the cut was reported');
    } finally {
      await nodes.close();
      await proxy.close();
    }
  });

  it('fails an acknowledged publish with HL_ERR_ENGINE_UNAVAILABLE when Redis does not answer, and carries on once it does', async () => {
    const proxy = await FaultProxy.start(redis.port);
    const nodes = new Nodes();
    try {
      const node = await nodes.node(proxy.url, { commandTimeout: 200 });
      const topic = fresh('down');
      proxy.sever();
      await assert.rejects(node.publishAcknowledged(topic, text('lost?'), false), { code: 'HL_ERR_ENGINE_UNAVAILABLE' });
      proxy.restore();
      await eventually(() => nodes.errors.length > 0, 2_000, 'the link loss reported');
      let ack;
      const deadline = Date.now() + 5_000;
      while (ack === undefined) {
        ack = await node.publishAcknowledged(topic, text('back'), false).catch(() => undefined);
        if (Date.now() > deadline) assert.fail('no publish acknowledged after the link came back');
      }
      assert.ok(ack.offset >= 1);
    } finally {
      await nodes.close();
      await proxy.close();
    }
  });

  it('knows the other nodes by instance id, and forgets a node that closed', async () => {
    const nodes = new Nodes();
    try {
      const [a, b] = await Promise.all([nodes.node(redis.url), nodes.node(redis.url)]);
      a!.nodes.advertise('http://127.0.0.1:8081');
      let url;
      const deadline = Date.now() + 2_000;
      while ((url = await b!.nodes.lookup(a!.instanceId)) === undefined && Date.now() < deadline) await delay(10);
      assert.equal(url, 'http://127.0.0.1:8081');
      assert.equal(await b!.nodes.lookup('nobodyHere123'), undefined);
      await a!.close();
      assert.equal(await b!.nodes.lookup(a!.instanceId), undefined);
    } finally {
      await nodes.close();
    }
  });

  it('takes a crashed node out of presence and of the directory within presenceTtl, with leave events', async () => {
    const nodes = new Nodes();
    const topic = fresh('crash');
    const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-node.child.js'), redis.url, topic, '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const watcher = await nodes.node(redis.url, { presenceTtl: 600 });
      const events: PresenceEvent[] = [];
      watcher.presence.watch(topic, (event) => events.push(event));
      const instanceId = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk) => {
          out += chunk;
          if (out.includes('\n')) resolve(out.trim());
        });
        child.once('exit', (code) => reject(new Error(`the node exited (${code}) before it was up`)));
      });
      assert.deepEqual((await watcher.presence.members(topic)).map((m) => m.data), [{ name: 'crashing' }]);
      assert.equal(await watcher.nodes.lookup(instanceId), 'http://127.0.0.1:1');
      child.kill('SIGKILL');
      const deadline = Date.now() + 5_000;
      while (!events.some((event) => event.type === 'leave') && Date.now() < deadline) await delay(50);
      assert.deepEqual(
        events.filter((event) => event.type === 'leave').map((event) => [event.member.id, event.member.data]),
        [[`${instanceId}.1`, { name: 'crashing' }]],
      );
      assert.equal(await watcher.presence.count(topic), 0);
      while ((await watcher.nodes.lookup(instanceId)) !== undefined && Date.now() < deadline) await delay(50);
      assert.equal(await watcher.nodes.lookup(instanceId), undefined);
    } finally {
      child.kill('SIGKILL');
      await nodes.close();
    }
  });

  it('refuses bad options with HL_ERR_INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      { url: 'http://127.0.0.1:6379' },
      { url: redis.url, client: {} },
      { client: { not: 'a client' } },
      { prefix: 7 },
      { commandTimeout: 0 },
      { historySize: -1 },
      { urll: redis.url },
    ];
    for (const options of bad) assert.throws(() => new RedisEngine(options as RedisEngineOptions), { code: 'HL_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
  });
});

describe('RedisEngine when Redis restarts', { skip, timeout: 60_000 }, () => {
  it('starts a new epoch after Redis was killed without persistence: the loss is flagged, never silent', async () => {
    const redis = await RedisServer.start();
    const nodes = new Nodes();
    try {
      const node = await nodes.node(redis.url);
      const topic = fresh('amnesia');
      const seen = new Recording();
      node.subscribe(seen, topic);
      await node.recover(topic, { epoch: 'x', offset: 0 }, 0);
      const before = await node.publishAcknowledged(topic, text('before'), false);
      await seen.until(1);
      await redis.kill();
      await redis.launch();
      let after;
      const deadline = Date.now() + 10_000;
      while (after === undefined && Date.now() < deadline) after = await node.publishAcknowledged(topic, text('after'), false).catch(() => undefined);
      assert.ok(after !== undefined, 'no publish after the restart');
      assert.notEqual(after.epoch, before.epoch);
      assert.equal(after.offset, 1);
      const recovery = await node.recover(topic, before, 100);
      assert.equal(recovery.recovered, false);
      assert.equal(recovery.recovered === false && recovery.reason, 'epoch');
      // The live subscriber goes on in the new epoch, where the position shows the change.
      await seen.until(2);
      assert.equal(seen.got.at(-1)!.epoch, after.epoch);
    } finally {
      await nodes.close();
      await redis.stop();
    }
  });

  it('recovers everything after Redis was killed with appendfsync always', async () => {
    const redis = await RedisServer.start({ persistent: true });
    const nodes = new Nodes();
    try {
      const node = await nodes.node(redis.url);
      const topic = fresh('durable');
      const acks = [];
      for (let i = 0; i < 20; i++) acks.push(await node.publishAcknowledged(topic, text(`m${i}`), false));
      await redis.kill();
      await redis.launch();
      let recovery;
      const deadline = Date.now() + 10_000;
      while (recovery === undefined && Date.now() < deadline) recovery = await node.recover(topic, acks[4]!, 100).catch(() => undefined);
      assert.ok(recovery?.recovered === true, `not recovered: ${JSON.stringify(recovery)}`);
      assert.equal(recovery.epoch, acks[0]!.epoch);
      assertContiguous(recovery.messages, 6, 15, acks[0]!.epoch);
      const next = await node.publishAcknowledged(topic, text('next'), false);
      assert.deepEqual([next.epoch, next.offset], [acks[0]!.epoch, 21]);
    } finally {
      await nodes.close();
      await redis.stop();
    }
  });
});

describe('RedisEngine.connect', { skip, timeout: 30_000 }, () => {
  it('rejects with HL_ERR_ENGINE_UNAVAILABLE when Redis is not there, and joins it once it is up', async () => {
    const redis = await RedisServer.start();
    await redis.kill();
    const engine = new RedisEngine<PublishedMessage>({ url: redis.url, commandTimeout: 2_000 });
    try {
      const started = Date.now();
      await assert.rejects(engine.connect(), (error: Error & { code?: string }) => error.code === 'HL_ERR_ENGINE_UNAVAILABLE' && /connecting/.test(error.message));
      assert.ok(Date.now() - started < 2_500, 'rejected within commandTimeout');
      await redis.launch();
      // The connections kept trying in the background: a later connect() finds them ready.
      let joined = false;
      for (const deadline = Date.now() + 10_000; !joined && Date.now() < deadline; await delay(100)) {
        joined = await engine.connect().then(() => true, () => false);
      }
      assert.ok(joined, 'connected once Redis was up');
      const ack = await bound(engine).publishAcknowledged('after-boot', text('x'), false);
      assert.equal(ack.offset, 1);
    } finally {
      await engine.close();
      await redis.stop();
    }
  });
});
