// `hotline serve --http2`: the page and the transports over h2 (TLS, self-signed), metered by stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LAB_ROOT, startServe } from './support/serve.js';
import type { StatsSnapshot } from '../src/snapshot.js';
import { LAB_TRANSPORTS } from '../src/palette.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const noChromium = existsSync(CHROMIUM) || inCi ? false : `Chromium not found at ${CHROMIUM} (apt-get install chromium); skipped outside CI`;
const ARTIFACTS = process.env.HOTLINE_ARTIFACTS ?? path.join(tmpdir(), 'hotline-artifacts');

// What the page-side callbacks touch: this file is compiled without the DOM library.
interface PageGlobals {
  readonly document: { querySelectorAll(selector: string): ArrayLike<{ dataset: Record<string, string | undefined> }>; getElementById(id: string): { textContent: string | null } | null };
  readonly performance: { getEntriesByType(type: string): Array<{ nextHopProtocol?: string }> };
}

function get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

test('serve --http2 serves the page and a poll over h2, and /stats counts the poll by its frames', { timeout: 20_000 }, async () => {
  const serving = await startServe(['--http2']);
  const session = http2.connect(serving.origin, { rejectUnauthorized: false });
  try {
    assert.match(serving.origin, /^https:/);
    assert.match(serving.output(), /self-signed/);
    const page = await get(session, '/');
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Hotline lab/);
    // The polling handshake (the session's open packet) is a request like any poll.
    const poll = await get(session, '/lab/stream?transport=polling');
    assert.equal(poll.status, 200);
    assert.match(poll.body, /"transport":"polling"/);
    const stats = JSON.parse((await get(session, '/stats')).body) as StatsSnapshot;
    assert.equal(stats.protocol, 'h2');
    const polling = stats.transports.polling;
    assert.equal(polling.requests, 1);
    assert.equal(polling.connections, 1);
    const f = polling.http2!;
    assert.ok(f.up.headerBytes > 0 && f.down.headerBytes > 0 && f.down.dataBytes >= poll.body.length, JSON.stringify(f));
    assert.equal(polling.bytesIn + polling.bytesOut, f.up.headerBytes + f.up.dataBytes + f.up.framingBytes + f.down.headerBytes + f.down.dataBytes + f.down.framingBytes);
    assert.equal(stats.tls!.h2Connections, 1);
    // The classic arithmetic's poll, its fields as HTTP/1.1 would write them (the pseudo-fields as request line and Host).
    assert.ok(stats.poll !== null && stats.poll.requestHeaders.some(([name]) => name === 'host'), JSON.stringify(stats.poll));
    assert.ok(stats.poll.requestHeaders.every(([name]) => !name.startsWith(':')) && stats.poll.responseHeadBytes > 40);
    assert.ok(stats.tls!.bytesIn > 0 && stats.tls!.bytesOut > page.body.length);
  } finally {
    session.destroy();
    await serving.stop();
  }
});

test('in Chromium over h2 the page works unchanged: every transport delivers, WebSocket as an h2 stream', { timeout: 30_000, skip: noChromium }, async () => {
  const serving = await startServe(['--http2', '--rate', '5', '--interval', '300']);
  const profile = mkdtempSync(path.join(tmpdir(), 'hotline-lab-h2-chromium-'));
  // The lab's certificate is self-signed: the browser is told to accept it.
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...ARGS, '--ignore-certificate-errors'], ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${serving.origin}/`);
    await page.waitForFunction(
      (n) => {
        const panes = (globalThis as unknown as PageGlobals).document.querySelectorAll('.pane');
        if (panes.length !== n) return false;
        for (let i = 0; i < panes.length; i++) if (Number(panes[i]!.dataset.received ?? 0) < 2) return false;
        return true;
      },
      LAB_TRANSPORTS.length,
      { timeout: 20_000 },
    );
    const protocol = await page.evaluate(() => (globalThis as unknown as PageGlobals).performance.getEntriesByType('navigation')[0]?.nextHopProtocol);
    assert.equal(protocol, 'h2');
    await page.waitForFunction(() => /HTTP\/2/.test((globalThis as unknown as PageGlobals).document.getElementById('protocol')?.textContent ?? ''), undefined, { timeout: 5_000 });
    // Fetched by the page, on its own connection, like its reports.
    const stats = (await page.evaluate(async () => (await fetch('/stats')).json())) as StatsSnapshot;
    assert.equal(stats.protocol, 'h2');
    assert.ok(stats.tls!.h2Connections >= 1, JSON.stringify(stats.tls));
    // Each transport's streams rode one h2 connection (the browser's one per origin).
    for (const t of LAB_TRANSPORTS) {
      const s = stats.transports[t];
      assert.ok(s.delivered > 0 && s.http2 !== null && s.http2.down.dataBytes > 0, `${t}: ${JSON.stringify(s)}`);
      assert.equal(s.connections, 1, `${t} rode the page's one connection`);
    }
    // RFC 8441: the page's WebSocket is an extended CONNECT stream, counted as its upgrade.
    assert.equal(stats.transports.websocket.requests, 1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'lab-h2.png'), fullPage: true });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await serving.stop();
  }
});

// The library's test certificate for localhost and 127.0.0.1 (packages/hotline/test/support/tls).
const FIXTURE = path.join(LAB_ROOT, '..', 'hotline', 'test', 'support', 'tls');

test('serve --tls-key --tls-cert serves over h2 with that certificate, which a client can verify', { timeout: 20_000 }, async () => {
  const serving = await startServe(['--tls-key', path.join(FIXTURE, 'localhost.key'), '--tls-cert', path.join(FIXTURE, 'localhost.crt')]);
  const session = http2.connect(serving.origin, { ca: readFileSync(path.join(FIXTURE, 'localhost.crt')) });
  try {
    assert.doesNotMatch(serving.output(), /self-signed/);
    assert.match(serving.output(), /localhost\.crt/);
    const page = await get(session, '/');
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal(page.status, 200);
  } finally {
    session.close();
    assert.equal(await serving.stop(), 0);
  }
});

test('serve refuses half a certificate pair, an unreadable file and a key that is not the certificate\'s, exit 2', () => {
  const main = path.join(LAB_ROOT, 'bin', 'hotline-lab.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [main, 'serve', '--port', '0', ...args], { encoding: 'utf8', timeout: 10_000 });
  const half = run('--tls-key', path.join(FIXTURE, 'localhost.key'));
  assert.equal(half.status, 2, half.stderr);
  assert.match(half.stderr, /--tls-key and --tls-cert go together/);
  const missing = run('--tls-key', '/nonexistent/key.pem', '--tls-cert', path.join(FIXTURE, 'localhost.crt'));
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /--tls-key: cannot read \/nonexistent\/key\.pem \(ENOENT\)/);
  const swapped = run('--tls-key', path.join(FIXTURE, 'localhost.crt'), '--tls-cert', path.join(FIXTURE, 'localhost.key'));
  assert.equal(swapped.status, 2, swapped.stderr);
  assert.match(swapped.stderr, /are not a key and its certificate/);
});
