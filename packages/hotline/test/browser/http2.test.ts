import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Http2SecureServer } from 'node:http2';
import type { Page } from 'playwright-core';
import { HeadlessTab, chromiumMissing } from '../support/chromium.js';
import { cert, key } from '../support/tls.js';
import { TRANSPORTS, answerChecks, bundlePage as page, checkConformance, checkSessionUpgrade } from '../support/page-checks.js';

import { Server } from '../../src/server/server.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import type { Peer } from '../../src/types.js';

/**
 * Every transport over HTTP/2, from a real browser: headless Chromium loads a page over
 * TLS from `listen({ tls })`, which offers h2 by ALPN, and runs the universal client over
 * each transport. The browser client is the same bundle as over HTTP/1.1, unchanged.
 *
 * That it really is HTTP/2 is checked on both ends: the page's own resource timing says
 * `h2` for every request, every stream the server saw came on one HTTP/2 connection, and
 * the `upgrade` hook saw HTTP/2 ('2.0') for every peer, the WebSockets included (RFC 8441:
 * an extended CONNECT on that connection).
 */

describe('every transport over HTTP/2 from headless Chromium', { skip: chromiumMissing() }, () => {
  let server: Server;
  let transports: HttpTransports;
  let browser: HeadlessTab | undefined;
  let tab: Page;
  let origin = '';
  const versions: string[] = [];
  let http2Sessions = 0;
  /** Every stream the page opened, as "connection method protocol path". */
  const streams: string[] = [];
  const connectionsUsed = () => [...new Set(streams.map((stream) => stream.split(' ')[0]))];

  before(async () => {
    server = new Server({ closeTimeout: 400 });
    const echo = {
      upgrade(request: { transport: string; httpVersion?: string }) {
        versions.push(`${request.transport} ${request.httpVersion}`);
      },
      message: answerChecks,
    };
    server.route('/e', echo);
    transports = enableHttpTransports(server, { interval: 50, hold: 2000, heartbeat: 1000, ackDelay: 100 });
    const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert }, fallback: page });
    const tls = server.tlsServer as Http2SecureServer;
    tls.on('session', (session) => {
      const id = ++http2Sessions;
      session.on('stream', (_stream, headers) => streams.push(`${id} ${headers[':method']} ${headers[':protocol'] ?? ''} ${String(headers[':path']).slice(0, 40)}`));
    });
    origin = `https://127.0.0.1:${address.port}`;
    browser = await HeadlessTab.open(origin + '/', ['--ignore-certificate-errors']);
    tab = browser.tab;
    await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  });

  after(async () => {
    await browser?.close();
    transports?.close();
    await server?.close({ timeout: 200 });
  });

  it('loads the page and the client bundle over h2', async () => {
    const protocols = await tab.evaluate(() => {
      const timing = performance as unknown as { getEntriesByType(type: string): Array<{ nextHopProtocol: string }> };
      return timing.getEntriesByType('navigation').concat(timing.getEntriesByType('resource')).map((entry) => entry.nextHopProtocol);
    });
    assert.ok(protocols.length >= 2, `entries: ${protocols.join(', ')}`);
    assert.deepEqual([...new Set(protocols)], ['h2']);
  });

  for (const transport of TRANSPORTS) {
    it(`runs the conformance checks over ${transport}`, async () => {
      const before = versions.length;
      await checkConformance(tab, '/e', transport);
      assert.deepEqual(versions.slice(before), [`${transport} 2.0`]);
      if (transport === 'websocket') assert.ok(streams.some((stream) => / CONNECT websocket \/e\?transport=websocket/.test(stream)), 'an extended CONNECT');
    });
  }

  it('holds 12 event streams open at once from one page, past HTTP/1.1\'s six connections, on one connection', async () => {
    const got = await tab.evaluate(async () => {
      const { connect } = (globalThis as unknown as { hotline: any }).hotline;
      const clients = Array.from({ length: 12 }, () => connect('/e', { transports: ['sse'] }));
      await Promise.all(clients.map((client: any) => new Promise((resolve) => client.addEventListener('open', resolve, { once: true }))));
      // Every stream is open at once: each push is answered on its own stream while all are held.
      const echoes = await Promise.all(
        clients.map(
          (client: any, i: number) =>
            new Promise<string>((resolve) => {
              client.addEventListener('message', (event: any) => resolve(event.data), { once: true });
              client.send(`stream ${i}`);
            }),
        ),
      );
      for (const client of clients) client.close();
      return echoes;
    });
    assert.deepEqual(got, Array.from({ length: 12 }, (_, i) => `stream ${i}`));
    // Chromium may open a spare connection ahead of need (a preconnect); every stream of
    // the page, these twelve included, rode one.
    assert.deepEqual(connectionsUsed(), ['1']);
  });

  it('upgrades a long-polling session to a WebSocket on an HTTP/2 stream without losing a message', async () => {
    await checkSessionUpgrade(tab, '/e');
    assert.deepEqual(connectionsUsed(), ['1'], 'the upgrade rode the same connection');
  });
});
