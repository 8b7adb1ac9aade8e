import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { HeadlessTab, chromiumMissing } from '../support/chromium.js';
import { TRANSPORTS, answerChecks, bundlePage as page, checkConformance, checkSessionUpgrade } from '../support/page-checks.js';

import { Server } from '../../src/server/server.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import type { Peer } from '../../src/types.js';

/**
 * Every transport from a real browser: headless Chromium loads a page from a Hotline
 * server, imports the client bundle from /hotline.js and runs the same checks over each.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
describe('every transport from headless Chromium', { skip: chromiumMissing() }, () => {
  let server: Server;
  let transports: HttpTransports;
  let browser: HeadlessTab | undefined;
  let tab: Page;
  let origin = '';
  const seen: Array<{ transport: string; ua: string }> = [];

  before(async () => {
    // The bundle the page imports is built by the package's build, which `npm test` runs first.
    assert.ok(existsSync(join(ROOT, 'dist/browser/hotline.js')), 'dist/browser/hotline.js is missing: npm run build first');
    server = new Server({ closeTimeout: 400 });
    const echo = {
      open(peer: Peer) {
        seen.push({ transport: peer.transport, ua: '' });
      },
      message: answerChecks,
    };
    server.route('/e', echo);
    server.route('/no-ws', {
      ...echo,
      upgrade(request) {
        if (request.transport === 'websocket') throw new Error('no WebSocket on this route');
      },
    });
    transports = enableHttpTransports(server, { interval: 50, hold: 2000, heartbeat: 1000, ackDelay: 100 });
    const address = await server.listen(0, '127.0.0.1', page);
    origin = `http://127.0.0.1:${address.port}`;
    browser = await HeadlessTab.open(origin + '/');
    tab = browser.tab;
    await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  });

  after(async () => {
    await browser?.close();
    transports?.close();
    await server?.close({ timeout: 200 });
  });

  it('serves the client bundle at /hotline.js with an ETag', async () => {
    const response = await fetch(origin + '/hotline.js');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /javascript/);
    const etag = response.headers.get('etag')!;
    const again = await fetch(origin + '/hotline.js', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
  });

  for (const transport of TRANSPORTS) {
    it(`runs the conformance checks over ${transport}`, async () => {
      await checkConformance(tab, '/e', transport);
    });
  }

  it('upgrades a long-polling session to WebSocket in the browser without losing a message', async () => {
    await checkSessionUpgrade(tab, '/e');
  });

  it('falls back from WebSocket when the route refuses it', async () => {
    const transport = await tab.evaluate(async () => {
      const { connect } = (globalThis as unknown as { hotline: any }).hotline;
      const client = connect('/no-ws');
      await new Promise((resolve) => client.addEventListener('open', resolve, { once: true }));
      client.send('hi');
      const echoed = await new Promise((resolve) => client.addEventListener('message', (e: any) => resolve(e.data), { once: true }));
      client.close();
      return `${client.transport}:${echoed}`;
    });
    assert.equal(transport, 'sse:hi');
  });

  it('serves an SSE stream a native EventSource can read, sequence numbers as event ids', async () => {
    const got = await tab.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const source = new EventSource('/e?transport=sse');
          source.addEventListener('session', (event) => {
            const { sid } = JSON.parse((event as MessageEvent).data);
            source.onmessage = (message) => {
              source.close();
              resolve(`${message.lastEventId}:${message.data}`);
            };
            void fetch(`/e?transport=sse&sid=${sid}`, { method: 'POST', body: '1;t5:hello' });
          });
        }),
    );
    assert.equal(got, '1:thello');
  });
});
