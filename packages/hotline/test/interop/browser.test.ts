/**
 * Interop with a real browser: headless Chromium (the system's, driven by playwright-core;
 * never a downloaded one) loads a page from a small Hotline server and talks to the real
 * `hotline echo` CLI: text, binary, empty and 1 MiB messages. Closing is checked against
 * a route that records what the server saw: the browser's code and reason arrive intact,
 * and the server's reach the page.
 *
 * Without Chromium the suite is skipped with a message, except in CI, where it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { Server } from '../../src/server/server.js';
import { Recorder } from '../support/server.js';
import { withTimeout } from '../support/timing.js';

const CHROMIUM = '/usr/bin/chromium';
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const available = existsSync(CHROMIUM);
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const skip = !available && !inCi ? `Chromium not found at ${CHROMIUM} (apt-get install chromium); skipped outside CI` : false;

const PAGE = '<!doctype html><meta charset="utf-8"><title>hotline interop</title><p>hotline interop</p>';

describe('interop with headless Chromium', { skip, timeout: 45_000 }, () => {
  let echo: ChildProcess;
  let echoUrl = '';
  let server: Server;
  let origin = '';
  const recorder = new Recorder();
  let context: BrowserContext;
  let page: Page;
  let profile = '';

  before(async () => {
    if (!available) assert.fail(`Chromium is required in CI and was not found at ${CHROMIUM}`);
    echo = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    echoUrl = await withTimeout(
      new Promise<string>((resolve, reject) => {
        let out = '';
        echo.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        echo.once('exit', (code) => reject(new Error(`hotline echo exited with ${code}`)));
      }),
      5000,
      'hotline echo to listen',
    );
    server = new Server();
    server.route('/record', recorder.echo({ upgrade: (request) => ({ protocol: request.protocols.includes('chat.v1') ? 'chat.v1' : undefined }) }));
    server.route('/server-close', { open: (peer) => peer.close(4002, 'bye from hotline ✓') });
    // The page comes from the same server's fallback: an http: origin, as in real use.
    const address = await server.listen(0, '127.0.0.1', (_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(PAGE);
    });
    origin = `http://127.0.0.1:${address.port}`;
    profile = mkdtempSync(join(tmpdir(), 'hotline-interop-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${origin}/`);
  });

  after(async () => {
    await context?.close().catch(() => {});
    if (profile !== '') rmSync(profile, { recursive: true, force: true });
    echo?.kill('SIGTERM');
    await server?.close({ timeout: 300 });
  });

  it('exchanges text, binary, empty and 1 MiB messages with hotline echo', async () => {
    const result = await page.evaluate(async (url: string) => {
      const ws = new WebSocket(url + '/browser');
      ws.binaryType = 'arraybuffer';
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('could not connect'));
      });
      const replies: unknown[] = [];
      let wake: (() => void) | null = null;
      ws.onmessage = (event) => {
        replies.push(event.data);
        wake?.();
      };
      const next = async () => {
        while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return replies.shift();
      };
      const big = new Uint8Array(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >>> 11)) & 0xff;
      const bigText = 'é'.repeat(512 * 1024); // 1 MiB of UTF-8
      const out: Array<{ kind: string; ok: boolean; detail: string }> = [];
      const check = async (kind: string, send: unknown, test: (reply: unknown) => boolean) => {
        ws.send(send as string);
        const reply = await next();
        const detail = typeof reply === 'string' ? `text(${reply.length})` : reply instanceof ArrayBuffer ? `binary(${reply.byteLength})` : typeof reply;
        out.push({ kind, ok: test(reply), detail });
      };
      const sameBytes = (a: Uint8Array, b: ArrayBuffer) => {
        if (a.byteLength !== b.byteLength) return false;
        const c = new Uint8Array(b);
        for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) return false;
        return true;
      };
      await check('text', 'hello from chromium ✓', (r) => r === 'hello from chromium ✓');
      await check('binary', new Uint8Array([0, 1, 2, 253, 254, 255]), (r) => r instanceof ArrayBuffer && sameBytes(new Uint8Array([0, 1, 2, 253, 254, 255]), r));
      await check('empty text', '', (r) => r === '');
      await check('empty binary', new ArrayBuffer(0), (r) => r instanceof ArrayBuffer && r.byteLength === 0);
      await check('1 MiB binary', big, (r) => r instanceof ArrayBuffer && sameBytes(big, r));
      await check('1 MiB text', bigText, (r) => r === bigText);
      ws.close(1000);
      await new Promise((resolve) => (ws.onclose = resolve));
      return out;
    }, echoUrl);
    for (const entry of result) assert.ok(entry.ok, `${entry.kind}: got ${entry.detail}`);
    assert.deepEqual(result.map((e) => e.kind), ['text', 'binary', 'empty text', 'empty binary', '1 MiB binary', '1 MiB text']);
  });

  it('closes with a code and a reason that the server sees, after selecting a subprotocol', async () => {
    recorder.skipOpened();
    const result = await page.evaluate(async (url: string) => {
      const ws = new WebSocket(url + '/record', ['chat.v1', 'chat.v0']);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('could not connect'));
      });
      const protocol = ws.protocol;
      ws.send('before closing');
      await new Promise((resolve) => (ws.onmessage = resolve));
      ws.close(4001, 'bye from chromium ✓');
      const event = await new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => (ws.onclose = resolve));
      return { protocol, code: event.code, reason: event.reason, wasClean: event.wasClean };
    }, origin.replace('http:', 'ws:'));
    assert.equal(result.protocol, 'chat.v1');
    assert.deepEqual([result.code, result.wasClean], [4001, true]);
    const peer = await recorder.nextPeer();
    const close = await recorder.wait('close', peer);
    assert.deepEqual([close.code, close.reason], [4001, 'bye from chromium ✓']);
    assert.equal(recorder.of('message', peer)[0]?.data.toString(), 'before closing');
    assert.equal(recorder.of('error', peer).length, 0);
  });

  it('reports a close from the server with its code and reason to the page', async () => {
    const result = await page.evaluate(async (url: string) => {
      const ws = new WebSocket(url + '/server-close');
      const event = await new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => (ws.onclose = resolve));
      return { code: event.code, reason: event.reason, wasClean: event.wasClean };
    }, origin.replace('http:', 'ws:'));
    assert.deepEqual(result, { code: 4002, reason: 'bye from hotline ✓', wasClean: true });
  });
});
