/**
 * Browser clients in the cluster: headless Chromium opens the page the nodes serve
 * through nginx, with universal clients (the `/hotline.js` bundle) on WebSocket, SSE and
 * long polling, recovery on. While a node is killed and restarted, and while one node's
 * link to Redis is severed, the checker's rules hold for them as for Node clients: in
 * order, no silent gap, every acknowledged publish delivered unless a loss was flagged —
 * and for the link cut, nothing flagged at all.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { prng } from '../support/bytes.js';
import { nginxMissing } from '../support/nginx.js';
import { redisMissing } from '../support/redis-server.js';
import { delay } from '../support/timing.js';
import { BrowserClients, chromiumMissing } from './browser-clients.js';
import { Cluster, RECONNECT, TRANSPORTS } from './harness.js';
import { FAULT_SEEDS } from './seeds.js';

const skip = redisMissing() ?? nginxMissing() ?? chromiumMissing();
const BUNDLE = fileURLToPath(new URL('../../browser/hotline.js', import.meta.url));

for (const seed of FAULT_SEEDS) {
  describe(`browser clients in a cluster of three nodes, fault schedule of seed ${seed}`, { skip, timeout: 120_000 }, () => {
    const cluster = new Cluster();
    const draw = prng(seed);
    let browser: BrowserClients | undefined;

    before(async () => {
      assert.ok(existsSync(BUNDLE), 'dist/browser/hotline.js is missing: npm run build first');
      await cluster.start();
      browser = await BrowserClients.open(`${cluster.url}/`);
      await browser.connect('/feed', 'feed', TRANSPORTS, 2, RECONNECT);
      cluster.checked.push(...browser.checked);
      cluster.refresh = () => browser!.sync();
      await cluster.warmUp();
    });
    after(async () => {
      await browser?.close();
      await cluster.stop();
    });

    it('loses nothing silently when a node is killed mid-stream and comes back', async () => {
      let killed = 0;
      await cluster.ridesThrough(draw, async () => {
        killed = await cluster.crashNode(draw);
      });
      // The node's clients came back on another node and recovered by position.
      const recovered = cluster.checked.filter((c) => c.recoveries.some((r) => r.at >= killed && r.recovered));
      assert.ok(recovered.length > 0, 'the killed node had clients, and they recovered elsewhere');
    });

    it("loses nothing when one node's link to Redis is severed for a second or two", async () => {
      await cluster.ridesThrough(draw, async () => {
        const link = cluster.links[Math.floor(draw() * cluster.links.length)]!;
        link.sever();
        await delay(1_000 + Math.floor(draw() * 1_000));
        link.restore();
      });
    });
  });
}
