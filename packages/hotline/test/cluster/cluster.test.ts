/**
 * Three Hotline nodes (child processes) on one Redis behind nginx (round-robin, no
 * affinity), universal clients on every streaming transport, a publisher acknowledged by
 * Redis, and faults on a schedule drawn from a fixed seed: a node killed mid-stream and
 * restarted, Redis killed without persistence. The checker (`checker.ts`) holds for every
 * client whatever happened: in order, no silent gap, every acknowledged publish delivered
 * unless the client was told it was lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HotlineClient } from '../../src/browser/client.js';
import type { TransportName } from '../../src/browser/options.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine } from '../../src/redis/index.js';
import { bound } from '../pubsub/engine-contract.js';
import { prng } from '../support/bytes.js';
import { Nginx, nginxMissing } from '../support/nginx.js';
import { RedisServer, redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';
import { open } from '../transports/helpers.js';
import { Checked, type Delivery } from './checker.js';
import { ClusterNode } from './cluster.js';

const skip = redisMissing() ?? nginxMissing();
const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'long-polling'];
const RECONNECT = { minDelay: 50, maxDelay: 300, jitter: 0.5 };

class Cluster {
  redis!: RedisServer;
  nodes: ClusterNode[] = [];
  nginx!: Nginx;
  publisher!: RedisEngine<PublishedMessage>;
  clients: HotlineClient[] = [];
  checked: Checked[] = [];
  acked: Delivery[] = [];
  private publishing = false;
  private loop: Promise<void> | null = null;

  async start(): Promise<void> {
    this.redis = await RedisServer.start();
    this.nodes = await Promise.all([0, 1, 2].map(() => ClusterNode.start(this.redis.url)));
    this.nginx = await Nginx.start(this.nodes.map((node) => node.port));
    this.publisher = bound(new RedisEngine<PublishedMessage>({ url: this.redis.url, commandTimeout: 500 }));
    await this.publisher.connect();
  }

  connectClients(perTransport: number): void {
    for (const transport of TRANSPORTS) {
      for (let i = 0; i < perTransport; i++) {
        const client = open(`http://127.0.0.1:${this.nginx.port}/feed`, transport, { reconnect: RECONNECT });
        this.clients.push(client);
        this.checked.push(new Checked(`${transport}#${i}`, client, 'feed'));
      }
    }
  }

  /** Publishes about every `every` ms until `stopPublishing`, recording what Redis acknowledged. */
  startPublishing(every: number): void {
    this.publishing = true;
    this.loop = (async () => {
      for (let n = 0; this.publishing; n++) {
        const ack = await this.publisher.publishAcknowledged('feed', Buffer.from(`m${n}`), false).catch(() => undefined);
        if (ack !== undefined) this.acked.push({ epoch: ack.epoch, offset: ack.offset, data: `m${n}` });
        await delay(every);
      }
    })();
  }

  async stopPublishing(): Promise<void> {
    this.publishing = false;
    await this.loop;
  }

  /** Waits until every client has the last acknowledged publish (or `ms` passed). */
  async settle(ms: number): Promise<void> {
    const last = this.acked.at(-1);
    assert.ok(last !== undefined, 'nothing was acknowledged');
    const deadline = Date.now() + ms;
    const has = (c: Checked) => c.deliveries.some((d) => d.epoch === last.epoch && d.offset === last.offset);
    while (!this.checked.every(has) && Date.now() < deadline) await delay(50);
    const behind = this.checked.filter((c) => !has(c)).map((c) => `${c.name} (last ${JSON.stringify(c.deliveries.at(-1))})`);
    assert.deepEqual(behind, [], `clients without the last publish ${last.epoch}:${last.offset}`);
  }

  assertChecked(): void {
    assert.deepEqual(this.checked.flatMap((c) => c.violations), []);
    for (const c of this.checked) assert.deepEqual(c.missing(this.acked).map((d) => d.offset), [], `${c.name} lost acknowledged publishes silently`);
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.publisher?.close();
    await Promise.all(this.nodes.map((node) => node.kill()));
    await this.nginx?.stop();
    await this.redis?.stop();
  }
}

for (const seed of [1, 7]) {
  describe(`a cluster of three nodes behind nginx, fault schedule of seed ${seed}`, { skip, timeout: 120_000 }, () => {
    const cluster = new Cluster();
    const draw = prng(seed);
    before(() => cluster.start());
    after(() => cluster.stop());

    it('loses nothing silently when a node is killed mid-stream and comes back', async () => {
      cluster.connectClients(2);
      cluster.startPublishing(10);
      await delay(800 + Math.floor(draw() * 400));
      const victim = cluster.nodes[Math.floor(draw() * 3)]!;
      await victim.kill();
      await delay(1_000 + Math.floor(draw() * 500));
      await victim.restart();
      await delay(800);
      await cluster.stopPublishing();
      await cluster.settle(15_000);
      cluster.assertChecked();
      // Every client was reached by the stream: a killed node's clients came back and recovered.
      for (const c of cluster.checked) assert.ok(c.deliveries.length > 50, `${c.name} got ${c.deliveries.length}`);
    });

    it('flags the loss when Redis is killed without persistence, and carries on in a new epoch', async () => {
      const before = cluster.acked.length;
      cluster.startPublishing(10);
      await delay(500 + Math.floor(draw() * 300));
      await cluster.redis.kill();
      await delay(300);
      await cluster.redis.launch();
      await delay(2_000);
      await cluster.stopPublishing();
      const epochs = new Set(cluster.acked.slice(before).map((d) => d.epoch));
      assert.ok(epochs.size >= 2, 'Redis came back with a new epoch');
      await cluster.settle(15_000);
      cluster.assertChecked();
    });
  });
}
