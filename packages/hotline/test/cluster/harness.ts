/**
 * The test cluster as a whole: a redis-server of its own (with or without an append-only
 * file), three Hotline nodes in child processes, each reaching Redis through its own
 * fault proxy (so that one node's link can be cut), nginx round-robin in front of them,
 * universal clients on every streaming transport, and a publisher that talks to Redis
 * directly and records what Redis acknowledged.
 */
import assert from 'node:assert/strict';
import type { HotlineClient } from '../../src/browser/client.js';
import type { TransportName } from '../../src/browser/options.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import { RedisEngine } from '../../src/redis/index.js';
import { bound } from '../pubsub/engine-contract.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { Nginx } from '../support/nginx.js';
import { RedisServer, type RedisOptions } from '../support/redis-server.js';
import { delay } from '../support/timing.js';
import { open } from '../transports/helpers.js';
import { Checked, type Delivery } from './checker.js';
import { ClusterNode } from './cluster.js';

export const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'long-polling'];
export const RECONNECT = { minDelay: 50, maxDelay: 300, jitter: 0.5 };

export class Cluster {
  redis!: RedisServer;
  /** One per node, in the same order: the node's link to Redis. */
  links: FaultProxy[] = [];
  nodes: ClusterNode[] = [];
  nginx!: Nginx;
  publisher!: RedisEngine<PublishedMessage>;
  clients: HotlineClient[] = [];
  checked: Checked[] = [];
  acked: Delivery[] = [];
  /** Brings records made elsewhere (a browser page) up to date before they are judged. */
  refresh: () => Promise<void> = async () => undefined;
  private publishing = false;
  private loop: Promise<void> | null = null;
  private sent = 0;

  async start(redis: RedisOptions = {}): Promise<void> {
    this.redis = await RedisServer.start(redis);
    this.links = await Promise.all([0, 1, 2].map(() => FaultProxy.start(this.redis.port)));
    this.nodes = await Promise.all(this.links.map((link) => ClusterNode.start(link.url)));
    this.nginx = await Nginx.start(this.nodes.map((node) => node.port));
    this.publisher = bound(new RedisEngine<PublishedMessage>({ url: this.redis.url, commandTimeout: 500 }));
    await this.publisher.connect();
  }

  get url(): string {
    return `http://127.0.0.1:${this.nginx.port}`;
  }

  connectClients(perTransport: number): void {
    for (const transport of TRANSPORTS) {
      for (let i = 0; i < perTransport; i++) {
        const client = open(`${this.url}/feed`, transport, { reconnect: RECONNECT });
        this.clients.push(client);
        this.checked.push(Checked.watch(`${transport}#${i}`, client, 'feed'));
      }
    }
  }

  /** Publishes about every `every` ms until `stopPublishing`, recording what Redis acknowledged. */
  startPublishing(every: number): void {
    this.publishing = true;
    this.loop = (async () => {
      while (this.publishing) {
        const data = `m${this.sent++}`;
        const ack = await this.publisher.publishAcknowledged('feed', Buffer.from(data), false).catch(() => undefined);
        if (ack !== undefined) this.acked.push({ epoch: ack.epoch, offset: ack.offset, data });
        await delay(every);
      }
    })();
  }

  async stopPublishing(): Promise<void> {
    this.publishing = false;
    await this.loop;
  }

  /** Publishes a little and waits for every client to get it: from then on, everything acknowledged is due to all. */
  async warmUp(): Promise<void> {
    const from = this.acked.length;
    this.startPublishing(10);
    await delay(300);
    // A first publish may be slow (the script loaded, an fsync on a busy disk): until one is acknowledged.
    const deadline = Date.now() + 10_000;
    while (this.acked.length === from && Date.now() < deadline) await delay(50);
    await this.stopPublishing();
    await this.settle(10_000);
  }

  /**
   * Runs `fault` mid-stream (the publisher going on, at a start drawn from `draw`), then
   * checks that no client saw anything of it: same epoch, no gap, no loss flagged, every
   * acknowledged publish delivered.
   */
  async ridesThrough(draw: () => number, fault: () => Promise<void>): Promise<void> {
    const from = this.acked.length;
    const epoch = this.acked.at(-1)?.epoch;
    this.startPublishing(10);
    await delay(500 + Math.floor(draw() * 300));
    const since = Date.now();
    await fault();
    await delay(800);
    await this.stopPublishing();
    const epochs = new Set(this.acked.slice(from).map((d) => d.epoch));
    if (epoch !== undefined) epochs.add(epoch);
    assert.equal(epochs.size, 1, 'the topic kept its epoch');
    await this.settle(15_000, since - 1_000);
    this.assertChecked();
    this.assertNothingFlagged(since - 1_000);
    this.assertAllDelivered(from);
  }

  /** A fault: a node drawn from `draw` killed (`kill -9`) and restarted 1 to 1.5 s later. Resolves with when it was killed. */
  async crashNode(draw: () => number): Promise<number> {
    const victim = this.nodes[Math.floor(draw() * this.nodes.length)]!;
    const killed = Date.now();
    await victim.kill();
    await delay(1_000 + Math.floor(draw() * 500));
    await victim.restart();
    return killed;
  }

  /** Waits until every client is at the last acknowledged publish (or `ms` passed); says what the laggards saw since `since`. */
  async settle(ms: number, since = 0): Promise<void> {
    const last = this.acked.at(-1);
    assert.ok(last !== undefined, 'nothing was acknowledged');
    const deadline = Date.now() + ms;
    const has = (c: Checked) => c.reached(last);
    for (;;) {
      await this.refresh();
      if (this.checked.every(has) || Date.now() > deadline) break;
      await delay(50);
    }
    const behind = this.checked.filter((c) => !has(c));
    assert.deepEqual(
      behind.map((c) => c.name),
      [],
      `clients without the last publish ${last.epoch}:${last.offset}\n${behind.map((c) => c.story(since)).join('\n')}`,
    );
  }

  assertChecked(): void {
    assert.deepEqual(this.checked.flatMap((c) => c.violations), []);
    for (const c of this.checked) assert.deepEqual(c.missing(this.acked).map((d) => d.offset), [], `${c.name} lost acknowledged publishes silently`);
  }

  /** No client was told of a loss since `since` (a fault the cluster must ride through whole). */
  assertNothingFlagged(since: number): void {
    const flagged = this.checked.filter((c) => c.recoveries.some((r) => !r.recovered && r.at >= since));
    assert.deepEqual(
      flagged.map((c) => c.name),
      [],
      `clients told of a loss\n${flagged.map((c) => c.story(since)).join('\n')}`,
    );
  }

  /** Every acknowledged publish from index `from` on reached every client. */
  assertAllDelivered(from: number): void {
    for (const c of this.checked) {
      const got = new Set(c.deliveries.map((d) => `${d.epoch}:${d.offset}`));
      const lost = this.acked.slice(from).filter((ack) => !got.has(`${ack.epoch}:${ack.offset}`));
      assert.deepEqual(lost.map((d) => d.offset), [], `${c.name} did not get every acknowledged publish`);
    }
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    await this.publisher?.close();
    await Promise.all(this.nodes.map((node) => node.kill()));
    await Promise.all(this.links.map((link) => link.close()));
    await this.nginx?.stop();
    await this.redis?.stop();
  }
}
