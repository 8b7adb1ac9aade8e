/**
 * The faults a cluster must ride through whole, on a Redis with `appendonly yes` and
 * `appendfsync always`: one node's link to Redis broken for a second or two (severed:
 * connections reset and refused; stalled: nothing passes, connections stay) while the
 * publisher, direct to Redis, goes on; and Redis itself killed with `kill -9` and
 * restarted from its append-only file; and a node killed while another one's link is
 * severed. For every client: no visible gap, no loss flagged, every acknowledged publish
 * delivered, and the epoch unchanged. The schedule (which node, when, how long) is drawn
 * from a fixed seed.
 */
import { after, before, describe, it } from 'node:test';
import { prng } from '../support/bytes.js';
import { nginxMissing } from '../support/nginx.js';
import { redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';
import { Cluster } from './harness.js';
import { FAULT_SEEDS } from './seeds.js';

const skip = redisMissing() ?? nginxMissing();

for (const seed of FAULT_SEEDS) {
  describe(`a cluster on a Redis with appendfsync always, fault schedule of seed ${seed}`, { skip, timeout: 120_000 }, () => {
    const cluster = new Cluster();
    const draw = prng(seed);
    before(async () => {
      await cluster.start({ persistent: true });
      cluster.connectClients(2);
      await cluster.warmUp();
    });
    after(() => cluster.stop());

    for (const how of ['sever', 'stall'] as const) {
      it(`loses nothing when one node's link to Redis is ${how === 'sever' ? 'severed' : 'stalled'} for a second or two`, async () => {
        await cluster.ridesThrough(draw, async () => {
          const link = cluster.links[Math.floor(draw() * cluster.links.length)]!;
          link[how]();
          await delay(1_000 + Math.floor(draw() * 1_000));
          link.restore();
        });
      });
    }

    it("loses nothing when a node is killed while another node's link to Redis is severed", async () => {
      await cluster.ridesThrough(draw, async () => {
        const victim = Math.floor(draw() * cluster.nodes.length);
        // The killed node's clients come back, in part, on the node that cannot reach Redis: their recovery waits for the link.
        const link = cluster.links[(victim + 1 + Math.floor(draw() * 2)) % cluster.links.length]!;
        link.sever();
        await cluster.nodes[victim]!.kill();
        await delay(1_000 + Math.floor(draw() * 1_000));
        link.restore();
        await cluster.nodes[victim]!.restart();
      });
    });

    it('loses nothing when Redis is killed and restarted from its append-only file', async () => {
      await cluster.ridesThrough(draw, async () => {
        await cluster.redis.kill();
        await delay(200 + Math.floor(draw() * 300));
        await cluster.redis.launch();
      });
    });
  });
}
