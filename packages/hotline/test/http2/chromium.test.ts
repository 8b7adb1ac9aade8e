/**
 * A real browser speaks WebSocket over HTTP/2 (RFC 8441) to Hotline: headless Chromium
 * loads a page over https (an HTTP/2 connection, on which the server advertised
 * SETTINGS_ENABLE_CONNECT_PROTOCOL), then opens `new WebSocket('wss://…')` to the same
 * origin, which Chromium sends as an extended CONNECT on that connection. The proof that it
 * is an HTTP/2 stream comes from both ends: DevTools sees the handshake answered 200 (not
 * 101) and the page fetched over 'h2'; the server's upgrade hook sees httpVersion '2.0'.
 * Then text, binary, 1 MiB and the close handshake, as over HTTP/1.1. Chromium trusts the
 * test's certificate by its public key (--ignore-certificate-errors-spki-list), as a user
 * is told to by `hotline echo --self-signed`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { Server } from '../../src/server/server.js';
import { fingerprintsOf } from '../../src/cli/self-signed.js';
import { HeadlessTab, chromiumMissing } from '../support/chromium.js';
import { cert, key } from '../support/tls.js';
import { startTlsEcho, type TlsEcho } from './echo-process.js';

/** A tab of a Chromium that trusts one certificate (by its public key), with DevTools' Network domain on. */
class TrustingTab {
  readonly handshakes: Array<{ status: number }> = [];
  readonly protocols = new Map<string, string>();
  private constructor(private readonly headless: HeadlessTab) {}

  get page(): Page {
    return this.headless.tab;
  }

  static async open(spki: string): Promise<TrustingTab> {
    const tab = new TrustingTab(await HeadlessTab.open('about:blank', [`--ignore-certificate-errors-spki-list=${spki}`]));
    const cdp = await tab.headless.context.newCDPSession(tab.page);
    cdp.on('Network.webSocketHandshakeResponseReceived', (event) => tab.handshakes.push({ status: event.response.status }));
    cdp.on('Network.responseReceived', (event) => tab.protocols.set(event.response.url, event.response.protocol ?? ''));
    await cdp.send('Network.enable');
    return tab;
  }

  /** In the page: opens `url`, sends text, binary and 1 MiB, closes with 1000; returns what came back. */
  exchange(url: string): Promise<{ text: string; binary: number[]; large: boolean; closeCode: number; closeClean: boolean }> {
    return this.page.evaluate(async (target) => {
      const ws = new WebSocket(target);
      ws.binaryType = 'arraybuffer';
      const queue: Array<string | ArrayBuffer> = [];
      let wake: (() => void) | null = null;
      ws.onmessage = (event) => {
        queue.push(event.data as string | ArrayBuffer);
        wake?.();
      };
      const next = async (): Promise<string | ArrayBuffer> => {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return queue.shift()!;
      };
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('the WebSocket failed to open'));
      });
      ws.send('hello over h2');
      const text = (await next()) as string;
      ws.send(new Uint8Array([0, 1, 2, 255]));
      const binary = [...new Uint8Array((await next()) as ArrayBuffer)];
      const big = new Uint8Array(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      ws.send(big);
      const back = new Uint8Array((await next()) as ArrayBuffer);
      const large = back.length === big.length && back.every((byte, i) => byte === big[i]);
      const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) => (ws.onclose = resolve));
      ws.close(1000, 'done');
      const event = await closed;
      return { text, binary, large, closeCode: event.code, closeClean: event.wasClean };
    }, url);
  }

  close(): Promise<void> {
    return this.headless.close();
  }
}

describe('WebSocket over HTTP/2 from headless Chromium', { skip: chromiumMissing(), timeout: 30_000 }, () => {
  describe('against the server API', () => {
    let server: Server;
    let port = 0;
    const httpVersions: string[] = [];
    before(async () => {
      server = new Server();
      server.route('/ws', {
        upgrade(request) {
          httpVersions.push(request.httpVersion ?? 'none');
          return {};
        },
        message(peer, data, isBinary) {
          peer.send(data, isBinary);
        },
      });
      const address = await server.listen({
        port: 0,
        host: '127.0.0.1',
        tls: { key, cert },
        fallback: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          response.end('<!doctype html><title>h2</title><p>WebSocket over HTTP/2</p>');
        },
      });
      port = address.port;
    });
    after(async () => {
      await server.close({ timeout: 500 });
    });

    it('opens an extended CONNECT on the page connection (200, h2, httpVersion 2.0) and exchanges text, binary, 1 MiB and a close', async () => {
      const tab = await TrustingTab.open(fingerprintsOf(cert).spki);
      try {
        const page = `https://127.0.0.1:${port}/`;
        await tab.page.goto(page);
        assert.equal(tab.protocols.get(page), 'h2', 'the page came over HTTP/2');
        const result = await tab.exchange(`wss://127.0.0.1:${port}/ws`);
        assert.deepEqual(result, { text: 'hello over h2', binary: [0, 1, 2, 255], large: true, closeCode: 1000, closeClean: true });
        assert.deepEqual(tab.handshakes, [{ status: 200 }], 'RFC 8441 §5: 200, not 101');
        assert.deepEqual(httpVersions, ['2.0']);
      } finally {
        await tab.close();
      }
    });
  });

  describe('against hotline echo --self-signed', () => {
    let echo: TlsEcho;
    before(async () => {
      echo = await startTlsEcho(['--self-signed']);
    });
    after(async () => {
      await echo.stop();
    });

    it('is trusted by the SPKI fingerprint it prints, and echoes over an HTTP/2 stream', async () => {
      const tab = await TrustingTab.open(echo.spki);
      try {
        const page = `https://127.0.0.1:${echo.port}/`;
        // Any answer will do: the page is only there to open the HTTP/2 connection.
        await tab.page.goto(page);
        assert.equal(tab.protocols.get(page), 'h2');
        const result = await tab.exchange(`wss://127.0.0.1:${echo.port}/`);
        assert.deepEqual(result, { text: 'hello over h2', binary: [0, 1, 2, 255], large: true, closeCode: 1000, closeClean: true });
        assert.deepEqual(tab.handshakes, [{ status: 200 }]);
      } finally {
        await tab.close();
      }
    });
  });
});
