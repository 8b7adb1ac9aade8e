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
import { prng } from '../support/bytes.js';
import { nginxMissing } from '../support/nginx.js';
import { redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';
import { Cluster } from './harness.js';
import { FAULT_SEEDS } from './seeds.js';

const skip = redisMissing() ?? nginxMissing();

for (const seed of FAULT_SEEDS) {
  describe(`a cluster of three nodes behind nginx, fault schedule of seed ${seed}`, { skip, timeout: 120_000 }, () => {
    const cluster = new Cluster();
    const draw = prng(seed);
    before(() => cluster.start());
    after(() => cluster.stop());

    it('loses nothing silently when a node is killed mid-stream and comes back', async () => {
      cluster.connectClients(2);
      await cluster.warmUp();
      // A killed node's clients come back on another node and recover by position: nothing is lost.
      await cluster.ridesThrough(draw, () => cluster.crashNode(draw).then(() => undefined));
      // Every client was reached by the stream: a killed node's clients came back and recovered.
      for (const c of cluster.checked) assert.ok(c.deliveries.length > 50, `${c.name} got ${c.deliveries.length}`);
    });

    it('flags the loss when Redis is killed without persistence, and carries on in a new epoch', async () => {
      const before = cluster.acked.length;
      cluster.startPublishing(10);
      await delay(500 + Math.floor(draw() * 300));
      const killed = Date.now();
      await cluster.redis.kill();
      await delay(300);
      await cluster.redis.launch();
      await delay(2_000);
      await cluster.stopPublishing();
      const epochs = new Set(cluster.acked.slice(before).map((d) => d.epoch));
      assert.ok(epochs.size >= 2, 'Redis came back with a new epoch');
      await cluster.settle(15_000, killed - 1_000);
      cluster.assertChecked();
    });
  });
}
