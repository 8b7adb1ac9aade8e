import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { HeadlessTab, chromiumMissing } from '../support/chromium.js';

import { Server } from '../../src/server/server.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import type { Peer } from '../../src/types.js';

/** The browser bundle recovers over WebSocket: headless Chromium, the page importing /hotline.js. */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const PAGE = `<!doctype html><meta charset="utf-8"><title>hotline</title>
<script type="module">
  import { connect } from '/hotline.js';
  window.seen = { messages: [], recoveries: [] };
  const client = connect('/news', { transports: ['websocket'], reconnect: { minDelay: 30, maxDelay: 60, jitter: 0 } });
  client.onmessage = (event) => window.seen.messages.push([event.data, event.topic ?? null, event.position?.offset ?? null]);
  client.onrecovery = (event) => window.seen.recoveries.push({ topic: event.topic, recovered: event.recovered, offset: event.offset, missed: event.missed ?? null });
  window.client = client;
</script>`;

function page(request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(request.url === '/' ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
  response.end(request.url === '/' ? PAGE : '');
}

interface Seen {
  messages: Array<[string, string | null, number | null]>;
  recoveries: Array<{ topic: string; recovered: boolean; offset: number; missed: number | null }>;
}

describe('recovery from headless Chromium', { skip: chromiumMissing() }, () => {
  let server: Server;
  let transports: HttpTransports;
  let browser: HeadlessTab | undefined;
  let tab: Page;
  const peers: Peer[] = [];

  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist/browser/hotline.js')), 'dist/browser/hotline.js is missing: npm run build first');
    server = new Server({ closeTimeout: 400 });
    server.route('/news', {
      open(peer: Peer) {
        peers.push(peer);
        peer.send('hello');
        peer.subscribe('news');
      },
    });
    transports = enableHttpTransports(server);
    const address = await server.listen(0, '127.0.0.1', page);
    browser = await HeadlessTab.open(`http://127.0.0.1:${address.port}/`);
    tab = browser.tab;
  });

  after(async () => {
    await browser?.close();
    transports?.close();
    await server?.close({ timeout: 200 });
  });

  const seen = () => tab.evaluate(() => (globalThis as unknown as { seen: Seen }).seen);
  async function until(what: string, test: (s: Seen) => boolean): Promise<Seen> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const s = await seen();
      if (test(s)) return s;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(s)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('gets what it missed while away, once and in order, with a recovery event', async () => {
    await until('the greeting', (s) => s.messages.length === 1);
    for (let i = 1; i <= 3; i++) server.publish('news', `n${i}`);
    await until('n1..n3', (s) => s.messages.length === 4);
    peers[0]!.terminate();
    for (let i = 4; i <= 6; i++) server.publish('news', `n${i}`);
    await until('the recovery', (s) => s.recoveries.length === 1);
    server.publish('news', 'n7');
    const result = await until('n7', (s) => s.messages.some(([data]) => data === 'n7'));
    assert.deepEqual(result.recoveries, [{ topic: 'news', recovered: true, offset: 3, missed: 3 }]);
    assert.deepEqual(result.messages, [
      ['hello', null, null],
      ['n1', 'news', 1],
      ['n2', 'news', 2],
      ['n3', 'news', 3],
      ['hello', null, null],
      ['n4', 'news', 4],
      ['n5', 'news', 5],
      ['n6', 'news', 6],
      ['n7', 'news', 7],
    ]);
  });
});
