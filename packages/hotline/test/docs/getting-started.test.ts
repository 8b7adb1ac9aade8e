/**
 * docs/getting-started.md, followed as a newcomer would: its files (the blocks marked
 * `<!-- file: NAME -->`) are written into an empty directory where `hotline` is installed,
 * the client is bundled with the esbuild command the page gives, `node server.js` is
 * started, and both pages — the one importing `/hotline.js`, the bundled one — chat in
 * headless Chromium.
 *
 * Without Chromium the browser half is skipped with a message, except in CI, where it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { codeBlocks, PACKAGE } from './markdown.js';

const PAGE = 'docs/getting-started.md';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const noBrowser = !existsSync(CHROMIUM) && !inCi ? `no Chromium at ${CHROMIUM} (apt-get install chromium); skipped outside CI` : false;
const BUNDLE_COMMAND = 'npx esbuild src/client.ts --bundle --format=esm --outfile=public/client.js';
const TIMEOUT = 15_000;

describe('docs/getting-started.md, followed step by step', () => {
  const blocks = codeBlocks(PAGE);
  const files = blocks.filter((block) => block.file !== null);
  let app = '';
  let server: ChildProcess | null = null;
  let origin = '';
  let output = '';

  before(() => {
    app = mkdtempSync(path.join(os.tmpdir(), 'hotline-getting-started-'));
  });

  after(async () => {
    if (server !== null && server.exitCode === null) {
      server.kill('SIGINT');
      await once(server, 'exit');
    }
    if (app !== '') rmSync(app, { recursive: true, force: true });
  });

  it('gives every file of the application', () => {
    assert.deepEqual(files.map((f) => f.file).sort(), ['public/app.html', 'public/index.html', 'server.js', 'src/client.ts']);
    const shell = blocks.filter((b) => b.lang === 'sh').map((b) => b.code).join('');
    for (const step of ['npm pkg set type=module', 'npm install hotline', 'node server.js', BUNDLE_COMMAND]) assert.ok(shell.includes(step), `no "${step}"`);
  });

  it('installs, bundles and starts', async () => {
    // `npm init -y && npm pkg set type=module && npm install hotline`, with the package of this checkout.
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'chat', version: '1.0.0', type: 'module' }));
    mkdirSync(path.join(app, 'node_modules'));
    symlinkSync(PACKAGE, path.join(app, 'node_modules', 'hotline'), 'dir');
    for (const file of files) {
      mkdirSync(path.dirname(path.join(app, file.file!)), { recursive: true });
      writeFileSync(path.join(app, file.file!), file.code);
    }
    // The page's esbuild command, through esbuild's API with the same options.
    await build({ entryPoints: [path.join(app, 'src/client.ts')], bundle: true, format: 'esm', outfile: path.join(app, 'public/client.js'), absWorkingDir: app, logLevel: 'silent' });

    server = spawn(process.execPath, ['server.js'], { cwd: app, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    origin = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening on" within ${TIMEOUT} ms: ${output}`)), TIMEOUT);
      server!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const found = /listening on (http:\/\/localhost:\d+)\//.exec(output);
        if (found !== null) {
          clearTimeout(timer);
          resolve(found[1]!.replace('localhost', '127.0.0.1'));
        }
      });
      server!.once('exit', (code) => reject(new Error(`server.js exited with ${code}: ${output}`)));
    });
    const response = await fetch(`${origin}/`);
    assert.equal(response.status, 200);
    assert.equal((await fetch(`${origin}/../package.json`)).status, 404);
  });

  describe('chats in Chromium', { skip: noBrowser }, () => {
    let browser: Browser;

    before(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    });

    after(async () => {
      await browser?.close();
    });

    for (const [page, expected] of [['/', 'hello over websocket'], ['/app.html', 'hello from the bundle over websocket']] as const) {
      it(`${page}: connects over WebSocket and gets its own message back`, async () => {
        assert.ok(origin !== '', 'the server did not start');
        const context = await browser.newContext();
        try {
          const tab = await context.newPage();
          const errors: string[] = [];
          tab.on('pageerror', (error) => errors.push(error.message));
          await tab.goto(`${origin}${page}`);
          await tab.locator('#messages li', { hasText: expected }).waitFor({ timeout: TIMEOUT });
          assert.match((await tab.locator('#state').textContent()) ?? '', /over websocket/);
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      });
    }

    it('/: falls back to HTTP when WebSocket is blocked, and the two windows chat', async () => {
      const context = await browser.newContext();
      try {
        // A network where WebSocket does not get through: every one the page opens is
        // refused (it is sent to port 1 of loopback, where nothing listens).
        const blocked = await context.newPage();
        await blocked.addInitScript({
          content: "window.WebSocket = class extends window.WebSocket { constructor(url, protocols) { super('ws://127.0.0.1:1/', protocols); } };",
        });
        await blocked.goto(`${origin}/`);
        await blocked.locator('#messages li', { hasText: /hello over (sse|long-polling|polling)/ }).waitFor({ timeout: TIMEOUT });
        const other = await context.newPage();
        await other.goto(`${origin}/`);
        await other.locator('#messages li', { hasText: 'hello over websocket' }).waitFor({ timeout: TIMEOUT });
        await other.fill('#text', 'from the second window');
        await other.press('#text', 'Enter');
        await blocked.locator('#messages li', { hasText: 'from the second window' }).waitFor({ timeout: TIMEOUT });
      } finally {
        await context.close();
      }
    });
  });
});
