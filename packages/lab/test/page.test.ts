/**
 * The lab end to end: `hotline serve` (the real CLI) and its page in headless Chromium
 * (the system's, driven by playwright-core; never a downloaded one). The page loads,
 * every pane receives the stream over its own transport, the chat goes both ways, the
 * counters agree with one another, and a full-page screenshot is saved (its path is
 * printed: lab.png in the temp directory, or in $HOTLINE_ARTIFACTS) for a person to look at.
 *
 * Without Chromium the test is skipped with a message, except in CI, where it fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import type { StatsSnapshot } from '../src/snapshot.js';
import { LAB_TRANSPORTS } from '../src/palette.js';

const CHROMIUM = '/usr/bin/chromium';

// What the page-side callbacks touch: this file is Node code, compiled without the DOM library.
interface PaneElement {
  readonly dataset: Record<string, string | undefined>;
}
interface PageGlobals {
  readonly document: { getElementById(id: string): { textContent: string | null } | null };
}
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
// dist/test/ -> the lab package
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(root, 'bin', 'hotline-lab.js');
// Never into the checkout: a test leaves the tree as it found it.
const ARTIFACTS = process.env.HOTLINE_ARTIFACTS ?? path.join(tmpdir(), 'hotline-artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'lab.png');

const available = existsSync(CHROMIUM);
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const skip = !available && !inCi ? `Chromium not found at ${CHROMIUM} (apt-get install chromium); skipped outside CI` : false;

let serve: ChildProcess | null = null;
let origin = '';
let context: BrowserContext | null = null;
let profile = '';

before(async () => {
  if (skip) return;
  if (!available) assert.fail(`Chromium is required in CI and was not found at ${CHROMIUM}`);
  // The page (web/, the browser client and uPlot) is built by the package's build, which `npm test` runs first.
  assert.ok(existsSync(path.join(root, 'dist', 'web', 'lab.js')), 'dist/web/lab.js is missing: npm run build first');

  serve = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate', '1', '--interval', '500'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  origin = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`hotline serve printed no URL:\n${out}`)), 10_000);
    serve!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Hotline lab: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    serve!.on('exit', (code) => reject(new Error(`hotline serve exited (${code}):\n${out}`)));
  });
  profile = mkdtempSync(path.join(tmpdir(), 'hotline-lab-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
});

after(async () => {
  await context?.close();
  if (serve !== null && serve.exitCode === null) {
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    serve.kill('SIGTERM');
    await exited;
  }
  if (profile !== '') rmSync(profile, { recursive: true, force: true });
});

async function stats(): Promise<StatsSnapshot> {
  return (await (await fetch(`${origin}/stats`)).json()) as StatsSnapshot;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('the lab page shows every transport receiving, measured consistently', { skip, timeout: 45_000 }, async () => {
  const page: Page = await context!.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  const started = Date.now();
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  assert.equal(await page.title(), 'Hotline lab — WebSocket against polling, long polling and SSE, measured');

  // Every pane receives the stream over its own transport.
  const received = await until('every pane to receive 3 messages', 20_000, async () => {
    const counts = await page.$$eval('.pane', (panes) => panes.map((p) => [(p as unknown as PaneElement).dataset.transport, Number((p as unknown as PaneElement).dataset.received ?? 0)] as const));
    return counts.length === 5 && counts.every(([, n]) => n >= 3) ? counts : null;
  });
  assert.deepEqual(received.map(([t]) => t), [...LAB_TRANSPORTS]);
  for (const t of LAB_TRANSPORTS) {
    assert.equal(await page.textContent(`.pane[data-transport="${t}"] [data-k="state"]`), 'open', `${t} pane is open`);
  }

  // The chat goes up and comes back down, over WebSocket and then over long polling.
  await page.fill('#chat-name', 'e2e');
  for (const [transport, label] of [['websocket', 'WebSocket'], ['long-polling', 'Long polling']] as const) {
    await page.click(`.chip[data-transport="${transport}"]`);
    await page.waitForFunction((l) => (globalThis as unknown as PageGlobals).document.getElementById('chat-state')!.textContent!.startsWith(`${l}:`), label, { timeout: 10_000 });
    const text = `hello over ${transport}`;
    await page.fill('#chat-text', text);
    await page.click('#chat-form button[type="submit"]');
    const line = page.locator('#chat-log li', { hasText: text });
    await line.locator('.trip').waitFor({ timeout: 10_000 });
    assert.equal(await line.locator('.badge').textContent(), label);
  }

  // Enough traffic for the charts to show something, and for the counters to settle.
  await page.waitForTimeout(Math.max(0, 11_000 - (Date.now() - started)));
  const s = await stats();
  for (const t of LAB_TRANSPORTS) {
    const x = s.transports[t];
    assert.ok(x.peers >= 1, `${t}: the page is connected`);
    assert.ok(x.delivered >= 3, `${t}: ${x.delivered} delivered`);
    assert.equal(x.lost, 0, `${t}: nothing lost`);
    assert.equal(x.latencyMs.count, x.delivered, `${t}: a latency for every delivery`);
    assert.ok(x.bytesOut > x.payloadBytes, `${t}: headers and framing counted on top of the payload`);
  }
  const ws = s.transports.websocket;
  assert.equal(ws.requests, 1, 'WebSocket: one HTTP request, the upgrade');
  assert.equal(ws.emptyResponses, 0);
  for (const t of ['polling', 'interval-polling'] as const) {
    const x = s.transports[t];
    assert.ok(x.requests > x.delivered, `${t}: ${x.requests} requests for ${x.delivered} messages at 1 event/s, polling every 500 ms`);
    assert.ok(x.emptyResponses > 0, `${t}: some polls came back empty`);
  }
  assert.ok(ws.perMessage.bytes! < s.transports.polling.perMessage.bytes!, 'WebSocket moves fewer bytes per message than polling');
  assert.ok(ws.latencyMs.p50 < s.transports.polling.latencyMs.p50, 'WebSocket pushes sooner than polling');
  assert.ok(ws.latencyMs.p50 < 100, `WebSocket p50 ${ws.latencyMs.p50} ms on localhost`);
  assert.equal(s.chat.messages, 2);
  assert.ok(s.chat.requests >= 2, 'the chat over long polling made HTTP requests');

  // The page shows the server's numbers: the table's WebSocket row says one request.
  const row = await page.$$eval('#table tr[data-transport="websocket"] td', (cells) => cells.map((c) => c.textContent ?? ''));
  assert.equal(row[0], 'WebSocket');
  assert.equal(row[6], '1');
  // Every chart names all five transports in its legend, in the panes' colours.
  const legends = await page.$$eval('.chart', (charts) => charts.map((c) => Array.from((c as unknown as { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> }).querySelectorAll('.u-series .u-label')).map((l) => l.textContent)));
  assert.equal(legends.length, 4);
  for (const legend of legends) assert.deepEqual(legend.slice(-5), ['WebSocket', 'SSE', 'Long polling', 'Short polling', 'Interval (Ajax) polling']);
  assert.deepEqual(problems, []);

  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await page.close();
});

interface ChartHost {
  readonly dataset: Record<string, string | undefined>;
}

test('after a reset and a new poll interval, every figure stays consistent and the charts show now', { skip, timeout: 45_000 }, async () => {
  const page: Page = await context!.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  await page.selectOption('#rate', '10');
  await until('the new rate', 5000, async () => (await stats()).stream.rate === 10);

  await page.click('#reset');
  await until('a new window', 5000, async () => (await stats()).resets > 0);
  // The charts start over on an empty axis that is the last minute, not 1970.
  const axes = async () =>
    page.$$eval('.chart > div', (hosts) => hosts.map((h) => [Number((h as unknown as ChartHost).dataset.xMin), Number((h as unknown as ChartHost).dataset.xMax)]));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'lab-after-reset.png'), fullPage: true });
  for (const [min, max] of await axes()) {
    const now = Date.now() / 1000;
    assert.ok(Math.abs(max! - now) < 5, `axis ends now (${new Date(max! * 1000).toISOString()})`);
    assert.ok(Math.abs(max! - min! - 60) < 0.5, 'a 60 s axis');
  }

  // Sample the page and /stats while the stream runs, the poll interval changes midway.
  const year = new Date().getFullYear();
  let changed = false;
  for (let i = 0; i < 16; i++) {
    if (i === 5) {
      await page.selectOption('#interval', '250');
      changed = true;
    }
    const s = await stats();
    const rows = await page.$$eval('#table tbody tr', (trs) => trs.map((tr) => Array.from((tr as unknown as { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> }).querySelectorAll('td')).map((td) => Number((td.textContent ?? '').replace(/,/g, '')))));
    const windowText = (await page.textContent('#window')) ?? '';
    const published = Number(/([\d,]+) events published/.exec(windowText)![1]!.replace(/,/g, ''));
    for (const [index, t] of LAB_TRANSPORTS.entries()) {
      const [, , sent, delivered, inFlight, lost] = rows[index]!;
      assert.equal(delivered! + inFlight! + lost!, sent, `page, ${t}: delivered + in flight + lost = sent`);
      assert.ok(delivered! <= published, `page, ${t}: delivered ${delivered} ≤ published ${published}`);
      assert.equal(lost, 0, `page, ${t}: nothing lost (sample ${i}${changed ? ', after the new interval' : ''})`);
      const x = s.transports[t];
      assert.ok(x.delivered <= s.stream.published * Math.max(1, x.peers), `/stats, ${t}: delivered ≤ published`);
      assert.equal(x.lost, 0, `/stats, ${t}: nothing lost`);
      assert.equal(x.latencyMs.count, x.delivered, `/stats, ${t}: one latency per delivery`);
    }
    for (const [min, max] of await axes()) {
      assert.equal(new Date(min! * 1000).getFullYear(), year);
      assert.equal(new Date(max! * 1000).getFullYear(), year);
    }
    await page.waitForTimeout(300);
  }
  const s = await stats();
  assert.equal(s.stream.interval, 250, '/stats shows the new interval');
  for (const t of ['polling', 'interval-polling'] as const) {
    assert.equal(await page.textContent(`.pane[data-transport="${t}"] [data-k="state"]`), 'open', `${t} reconnected`);
    assert.ok(s.transports[t].delivered > 0, `${t} delivered in the window`);
  }
  assert.deepEqual(problems, []);
  await page.screenshot({ path: path.join(ARTIFACTS, 'lab-after-interval.png'), fullPage: true });
  // Back to the first test's settings for whoever comes next.
  await page.selectOption('#interval', '500');
  await page.selectOption('#rate', '1');
  await page.close();
});
