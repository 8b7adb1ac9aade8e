/**
 * The cluster page (`hotline serve --nodes 3 --redis URL`) in headless Chromium (the
 * system's, driven by playwright-core): its six clients receive through the balancer, a
 * click on "Kill node k" shows the node down and back, and the killed node's clients
 * moved and recovered on the page with no gap. A full-page screenshot is saved
 * (cluster.png in the temp directory, or in $HOTLINE_ARTIFACTS) for a person to look at.
 *
 * Without Chromium or redis-server the test is skipped with a message, except in CI.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { RedisServer, redisMissing } from './support/redis.js';
import { LAB_ROOT, type Serving, startServe } from './support/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const ARTIFACTS = process.env.HOTLINE_ARTIFACTS ?? path.join(tmpdir(), 'hotline-artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'cluster.png');
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const noChromium = existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM} (apt-get install chromium); skipped outside CI`;
if (noChromium !== undefined && inCi) throw new Error(`${noChromium} — and CI is set, so this is a failure`);
const skip = noChromium ?? redisMissing();

interface Row {
  client: string;
  node: string;
  delivered: number;
  gaps: string;
  recoveries: string;
}

let redis: RedisServer | null = null;
let serving: Serving | null = null;
let context: BrowserContext | null = null;
let profile = '';

before(async () => {
  if (skip !== undefined) return;
  assert.ok(existsSync(path.join(LAB_ROOT, 'dist', 'web', 'cluster.js')), 'dist/web/cluster.js is missing: npm run build first');
  redis = await RedisServer.start();
  serving = await startServe(['--nodes', '3', '--redis', redis.url, '--rate', '10']);
  profile = mkdtempSync(path.join(tmpdir(), 'hotline-lab-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
});

after(async () => {
  await context?.close();
  const code = await serving?.stop();
  await redis?.stop();
  if (profile !== '') rmSync(profile, { recursive: true, force: true });
  if (serving !== null) assert.equal(code, 0, serving.output());
});

async function until<T>(what: string, ms: number, probe: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function rows(page: Page): Promise<Row[]> {
  return page.$$eval('#clients tbody tr', (trs) =>
    trs.map((tr) => {
      const k = (key: string) => tr.querySelector(`[data-k="${key}"]`)!.textContent ?? '';
      return { client: (tr as unknown as { dataset: Record<string, string> }).dataset.client!, node: k('node'), delivered: Number(k('delivered')), gaps: k('gaps'), recoveries: k('recoveries') };
    }),
  );
}

const nodeState = (page: Page, index: number) => page.textContent(`#nodes tr[data-node="${index}"] [data-k="state"]`);

test('the cluster page: Kill node k, and its clients recover elsewhere with no gap', { skip, timeout: 45_000 }, async () => {
  const page = await context!.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${serving!.origin}/cluster`);
  assert.equal(await page.title(), 'Hotline lab — several nodes over Redis');

  const first = await until('six clients receiving', 15_000, async () => {
    const now = await rows(page);
    return now.length === 6 && now.every((row) => row.delivered >= 3 && /^\d$/.test(row.node)) ? now : null;
  });
  await until('three nodes up', 5000, async () => (await page.textContent('#status')) === '3 of 3 nodes up');

  // The node with the most of this page's clients.
  const counts = [0, 1, 2].map((index) => first.filter((row) => row.node === String(index)).length);
  const victim = counts.indexOf(Math.max(...counts));
  const moving = first.filter((row) => row.node === String(victim)).map((row) => row.client);
  await page.click(`button[data-kill="${victim}"]`);
  await until('the node shown down', 3000, async () => (await nodeState(page, victim))?.startsWith('down (killed)') ?? false);
  assert.equal(await page.isDisabled(`button[data-kill="${victim}"]`), true, 'no Kill button for a node that is down');

  const after = await until('its clients recovered', 15_000, async () => {
    const now = await rows(page);
    const moved = now.filter((row) => moving.includes(row.client));
    return moved.every((row) => /✓ \d+ missed/.test(row.recoveries)) ? now : null;
  });
  assert.ok(after.some((row) => moving.includes(row.client) && row.node.endsWith(`(was ${victim})`)), `a client shown moved: ${JSON.stringify(after)}`);
  assert.ok((await page.textContent('#log'))!.includes(`moved: node ${victim} →`), 'the log tells the move');
  await until('the node up again', 10_000, async () => (await nodeState(page, victim)) === 'up');
  assert.equal(await page.textContent(`#nodes tr[data-node="${victim}"] [data-k="restarts"]`), '1 (last: killed)');

  await page.waitForTimeout(1500);
  const end = await rows(page);
  for (const row of end) {
    assert.equal(row.gaps, '0', `${row.client}: no gap`);
    assert.ok(!row.recoveries.includes('✗'), `${row.client}: ${row.recoveries}`);
    assert.ok(row.delivered > first.find((r) => r.client === row.client)!.delivered, `${row.client} kept receiving`);
  }
  assert.deepEqual(problems, []);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  process.stdout.write(`# screenshot: ${SCREENSHOT}\n`);
});
