import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { start, type ChatServer } from '../chat/server.js';

/**
 * The chat page in headless Chromium: three people in one room, one over WebSocket, one
 * whose WebSocket is refused (as by a proxy that blocks the Upgrade) and who falls back
 * to SSE, one on long polling; a fourth in another room.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Never into the checkout: a test leaves the tree as it found it.
const SCREENSHOT = join(process.env.HOTLINE_ARTIFACTS ?? join(tmpdir(), 'hotline-artifacts'), 'example-chat.png');
const WAIT = { timeout: 20_000 };

describe('examples/chat in headless Chromium', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, () => {
  let chat: ChatServer;
  let blocker: NetServer;
  let blockerPort = 0;
  let context: BrowserContext;
  let profile = '';

  before(async () => {
    chat = await start(0);
    // What a proxy that refuses WebSocket answers: 403 to the Upgrade, then it hangs up.
    blocker = createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    blockerPort = (blocker.address() as { port: number }).port;
    profile = mkdtempSync(join(tmpdir(), 'hotline-examples-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 900, height: 640 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await context?.close();
    await chat?.close();
    await new Promise((resolve) => blocker?.close(resolve));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(query: string, options: { blockWebSocket?: boolean } = {}): Promise<Page> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    if (options.blockWebSocket) {
      // Every WebSocket this page opens goes to the refusing proxy instead.
      await page.addInitScript((port) => {
        // Runs in the page (no DOM types here: this package compiles for Node).
        type Ctor = new (url: string, protocols?: string | string[]) => object;
        const page = globalThis as unknown as { WebSocket: Ctor };
        const Real = page.WebSocket;
        page.WebSocket = class extends Real {
          constructor(_url: string, protocols?: string | string[]) {
            super(`ws://127.0.0.1:${port}/`, protocols);
          }
        };
      }, blockerPort);
    }
    await page.goto(`${chat.url}/?${query}`);
    (page as Page & { errors?: string[] }).errors = errors;
    return page;
  }

  const status = (page: Page, text: RegExp) => page.locator('#status').filter({ hasText: text }).waitFor(WAIT);
  const line = (page: Page, text: string) => page.locator('#log li', { hasText: text }).first().waitFor(WAIT);
  async function say(page: Page, text: string): Promise<void> {
    await page.fill('#say input', text);
    await page.press('#say input', 'Enter');
  }

  it('chats across WebSocket, a fallback to SSE and long polling, room by room', async () => {
    const alice = await open('name=alice&room=lobby');
    await status(alice, /over websocket/);
    const bob = await open('name=bob&room=lobby', { blockWebSocket: true });
    await status(bob, /over sse/);
    const carol = await open('name=carol&room=lobby&transports=long-polling');
    await status(carol, /over long-polling/);
    const dave = await open('name=dave&room=elsewhere');
    await status(dave, /#elsewhere as dave, over websocket/);

    await line(alice, 'carol joined.');
    assert.equal(await alice.locator('#join').isVisible(), false, 'the join form gives way to the room');
    assert.deepEqual(await alice.locator('#members li').allTextContents(), ['alice', 'bob', 'carol']);

    await say(bob, 'hello from behind the proxy');
    await say(carol, 'polling in');
    const attack = '<img src=x onerror="window.pwned=1">';
    await say(alice, attack);
    for (const page of [alice, bob, carol]) {
      await line(page, 'hello from behind the proxy');
      await line(page, 'polling in');
      await line(page, attack);
      assert.equal(await page.locator('#log img').count(), 0, 'a line is shown as text, never as HTML');
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
    }
    // The other room heard none of it.
    await say(dave, 'anyone?');
    await line(dave, 'anyone?');
    assert.equal(await dave.locator('#log li', { hasText: 'hello from behind' }).count(), 0);
    assert.equal(await alice.locator('#log li', { hasText: 'anyone?' }).count(), 0);

    await bob.close();
    await line(alice, 'bob left.');
    assert.deepEqual(await alice.locator('#members li').allTextContents(), ['alice', 'carol']);

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await alice.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`# screenshot: ${SCREENSHOT}`);
    for (const page of [alice, carol, dave]) {
      assert.deepEqual((page as Page & { errors?: string[] }).errors, [], 'no script error on the page');
      await page.close();
    }
  });

  it('joins from the form', async () => {
    const page = await open('');
    await page.fill('#join input[name=name]', 'erin');
    await page.fill('#join input[name=room]', 'form-room');
    await page.click('#join button');
    await status(page, /#form-room as erin, over websocket/);
    await line(page, 'You joined #form-room as erin.');
    await say(page, 'it works');
    await line(page, 'it works');
    await page.close();
  });
});
