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

/**
 * Every transport from a real browser: headless Chromium loads a page from a Hotline
 * server, imports the client bundle from /hotline.js and runs the same checks over each.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TRANSPORTS = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'] as const;

const PAGE = `<!doctype html><meta charset="utf-8"><title>hotline</title>
<script type="module">
  import * as hotline from '/hotline.js';
  window.hotline = hotline;
  window.ready = true;
</script>`;

function page(request: IncomingMessage, response: ServerResponse): void {
  if (request.url === '/') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(PAGE);
  } else {
    response.writeHead(404);
    response.end();
  }
}

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
      message(peer: Peer, data: Buffer, isBinary: boolean) {
        const text = isBinary ? '' : data.toString();
        if (text.startsWith('push:')) {
          setTimeout(() => peer.send(`pushed over ${peer.transport}`), Number(text.slice(5)));
        } else if (text === 'close-me') {
          peer.close(4000, 'server says bye');
        } else {
          peer.send(data, isBinary);
        }
      },
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
      const result = await tab.evaluate(async (transport) => {
        const { connect } = (globalThis as unknown as { hotline: any }).hotline;
        const client = connect('/e', { transports: [transport], interval: 50 });
        const messages: Array<string | number[]> = [];
        const waiters: Array<() => void> = [];
        client.onmessage = (event: { data: string | ArrayBuffer }) => {
          messages.push(typeof event.data === 'string' ? event.data : Array.from(new Uint8Array(event.data)).slice(0, 8).concat([event.data.byteLength]));
          waiters.splice(0).forEach((w) => w());
        };
        const until = (n: number) =>
          new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`got ${messages.length} of ${n}`)), 15000);
            const check = () => (messages.length >= n ? (clearTimeout(t), resolve()) : waiters.push(check));
            check();
          });
        await new Promise((resolve) => client.addEventListener('open', resolve, { once: true }));
        const opened = client.transport;
        for (let i = 0; i < 50; i++) client.send(`m${i}`);
        client.send('é中😀\r\n');
        client.send(new Uint8Array([0, 1, 254, 255]));
        const big = new Uint8Array(1024 * 1024).map((_, i) => i & 255);
        client.send(big);
        client.send('push:300');
        await until(54);
        client.send('close-me');
        const closed = await new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
          client.addEventListener('close', (e: any) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean })),
        );
        return { opened, messages, closed };
      }, transport);
      assert.equal(result.opened, transport);
      assert.deepEqual(result.messages.slice(0, 50), Array.from({ length: 50 }, (_, i) => `m${i}`));
      assert.equal(result.messages[50], 'é中😀\r\n');
      assert.deepEqual(result.messages[51], [0, 1, 254, 255, 4]);
      assert.deepEqual(result.messages[52], [0, 1, 2, 3, 4, 5, 6, 7, 1024 * 1024]);
      assert.equal(result.messages[53], `pushed over ${transport}`);
      assert.deepEqual(result.closed, { code: 4000, reason: 'server says bye', wasClean: true });
    });
  }

  it('upgrades a long-polling session to WebSocket in the browser without losing a message', async () => {
    const result = await tab.evaluate(async () => {
      const { connect } = (globalThis as unknown as { hotline: any }).hotline;
      const client = connect('/e', { transports: ['long-polling'], upgrade: true });
      const got: string[] = [];
      client.onmessage = (event: { data: string }) => got.push(event.data);
      const transports: string[] = [];
      const upgraded = new Promise<void>((resolve) =>
        client.addEventListener('transport', (event: any) => {
          transports.push(event.transport);
          if (event.transport === 'websocket') resolve();
        }),
      );
      await new Promise((resolve) => client.addEventListener('open', resolve, { once: true }));
      let i = 0;
      const pump = setInterval(() => client.send(`n${i++}`), 2);
      await upgraded;
      await new Promise((resolve) => setTimeout(resolve, 100));
      clearInterval(pump);
      const sent = i;
      await new Promise((resolve) => setTimeout(resolve, 300));
      client.close();
      return { transports, sent, got };
    });
    assert.deepEqual(result.transports, ['long-polling', 'websocket']);
    assert.deepEqual(result.got, Array.from({ length: result.sent }, (_, i) => `n${i}`));
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
