/**
 * The checks the browser tests run in a page that imported the client bundle as
 * `window.hotline`, and what they assert of the answers: the same over HTTP/1.1 and HTTP/2.
 * The server's route answers with `answerChecks`.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import type { Peer } from '../../src/types.js';

export const TRANSPORTS = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'] as const;

const PAGE = `<!doctype html><meta charset="utf-8"><title>hotline</title>
<script type="module">
  import * as hotline from '/hotline.js';
  window.hotline = hotline;
  window.ready = true;
</script>`;

/** The `fallback` that serves the page at `/` (the server serves the bundle at /hotline.js). */
export function bundlePage(request: IncomingMessage, response: ServerResponse): void {
  if (request.url === '/') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(PAGE);
  } else {
    response.writeHead(404);
    response.end();
  }
}

/** What the checks expect of the route's `message`: echo; `push:MS` pushes later; `close-me` closes 4000. */
export function answerChecks(peer: Peer, data: Buffer, isBinary: boolean): void {
  const text = isBinary ? '' : data.toString();
  if (text.startsWith('push:')) setTimeout(() => peer.send(`pushed over ${peer.transport}`), Number(text.slice(5)));
  else if (text === 'close-me') peer.close(4000, 'server says bye');
  else peer.send(data, isBinary);
}

/**
 * 50 messages in order, UTF-8, binary, 1 MiB, a push and a server close over one
 * transport; asserts every answer, first of all that the client opened on that transport.
 */
export async function checkConformance(tab: Page, path: string, transport: string): Promise<void> {
  const result = await tab.evaluate(
    async ({ path, transport }) => {
      const { connect } = (globalThis as unknown as { hotline: any }).hotline;
      const client = connect(path, { transports: [transport], interval: 50 });
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
      client.send(new Uint8Array(1024 * 1024).map((_, i) => i & 255));
      client.send('push:300');
      await until(54);
      client.send('close-me');
      const closed = await new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
        client.addEventListener('close', (e: any) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean })),
      );
      return { opened, messages, closed };
    },
    { path, transport },
  );
  assert.equal(result.opened, transport);
  assert.deepEqual(result.messages.slice(0, 50), Array.from({ length: 50 }, (_, i) => `m${i}`));
  assert.equal(result.messages[50], 'é中😀\r\n');
  assert.deepEqual(result.messages[51], [0, 1, 254, 255, 4]);
  assert.deepEqual(result.messages[52], [0, 1, 2, 3, 4, 5, 6, 7, 1024 * 1024]);
  assert.equal(result.messages[53], `pushed over ${transport}`);
  assert.deepEqual(result.closed, { code: 4000, reason: 'server says bye', wasClean: true });
}

/**
 * A long-polling session moved onto a WebSocket while the page sends every 2 ms: the
 * transports it went through were long polling then WebSocket, and every message came
 * back once, in order.
 */
export async function checkSessionUpgrade(tab: Page, path: string): Promise<void> {
  const result = await tab.evaluate(async (path) => {
    const { connect } = (globalThis as unknown as { hotline: any }).hotline;
    const client = connect(path, { transports: ['long-polling'], upgrade: true });
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
  }, path);
  assert.deepEqual(result.transports, ['long-polling', 'websocket']);
  assert.deepEqual(result.got, Array.from({ length: result.sent }, (_, i) => `n${i}`));
}
