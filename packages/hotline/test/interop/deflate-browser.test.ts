/**
 * permessage-deflate with a real browser: headless Chromium opens a WebSocket to
 * `hotline echo --deflate` (and to servers with other parameters), `ws.extensions` shows
 * the agreement, and messages of 16 B to 1 MiB, text and binary, come back byte for byte
 * and in order. A proxy between the two records every frame, which proves compression
 * on the wire both ways: RSV1 on the first frame of each compressed message only,
 * messages under Hotline's threshold sent as they are, and far fewer bytes than the
 * payload for compressible ones, with context takeover where it was agreed.
 *
 * Chromium is taken from /usr/bin/chromium (or CHROMIUM_PATH); without it the test is
 * skipped, except in CI where it must fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { Server } from '../../src/server/server.js';
import type { PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import { withTimeout } from '../support/timing.js';
import { FrameTap, type TappedMessage } from './frame-tap.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && process.env.CI) {
  // In CI a missing browser is a broken setup, not a reason to skip.
  throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH); browser interop cannot run`);
}
const SKIP = !HAVE_CHROMIUM && `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH to run the browser interop tests)`;

const TEXT = 0x1;
const BINARY = 0x2;
/** Hotline's default threshold: smaller messages are sent uncompressed. */
const THRESHOLD = 1024;

/** What the page reports after its round trips. */
interface PageResult {
  extensions: string;
  /** [kind, size] of every message sent, in order. */
  sent: Array<[string, number]>;
  /** Indices of echoes that differ from what was sent, or came in the wrong order. */
  mismatches: number[];
  received: number;
  close: { code: number; wasClean: boolean };
}

/**
 * Runs in the page: sends every size as text and as binary (plus a repeated message and
 * a run of small ones), checks each echo against what was sent, in order.
 */
async function roundTrips(url: string): Promise<PageResult> {
  let seed = 42;
  const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const words = ['hotline', 'frame', 'deflate', 'window', 'context', 'browser', 'chromium', 'ping', 'échange', '数据'];
  const text = (size: number): string => {
    let out = '';
    while (out.length < size) out += words[Math.floor(random() * words.length)] + (random() < 0.1 ? '.\n' : ' ');
    return out.slice(0, size);
  };
  const binary = (size: number): Uint8Array => {
    // Rows of a pattern with some noise: compressible, but not trivially. The rows are
    // shorter than the farthest match zlib makes in a 512-byte window (250 bytes).
    const row = new Uint8Array(128).map(() => Math.floor(random() * 256));
    return new Uint8Array(size).map((_, i) => (random() < 0.02 ? Math.floor(random() * 256) : row[i % 128]!));
  };
  const messages: Array<string | Uint8Array> = [];
  const sent: Array<[string, number]> = [];
  for (const size of [16, 64, 256, 1024, 4096, 16384, 65536, 131072, 1048576]) {
    messages.push(text(size), binary(size));
  }
  // Sent twice: 1,500 random letters (they compress poorly on their own), so that the
  // second copy is small only if it refers back to the first, within a 4 KiB window.
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let repeated = '';
  for (let i = 0; i < 1500; i++) repeated += letters[Math.floor(random() * letters.length)];
  messages.push(repeated, repeated);
  for (let i = 0; i < 100; i++) messages.push(i % 2 ? `small ${i}` : text(900 + i * 3));

  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('WebSocket failed to open'));
  });
  const echoes: Array<string | ArrayBuffer> = [];
  const all = new Promise<void>((resolve, reject) => {
    ws.onmessage = (event) => {
      echoes.push(event.data as string | ArrayBuffer);
      if (echoes.length === messages.length) resolve();
    };
    ws.onclose = (event) => reject(new Error(`closed ${event.code} after ${echoes.length} echoes`));
    setTimeout(() => reject(new Error(`only ${echoes.length} of ${messages.length} echoes`)), 20_000);
  });
  for (const message of messages) {
    ws.send(message);
    sent.push(typeof message === 'string' ? ['text', new TextEncoder().encode(message).length] : ['binary', message.length]);
  }
  await all;
  const mismatches: number[] = [];
  messages.forEach((message, i) => {
    const echo = echoes[i]!;
    if (typeof message === 'string') {
      if (echo !== message) mismatches.push(i);
    } else {
      const bytes = new Uint8Array(echo as ArrayBuffer);
      if (typeof echo === 'string' || bytes.length !== message.length || bytes.some((b, j) => b !== message[j])) mismatches.push(i);
    }
  });
  const close = await new Promise<{ code: number; wasClean: boolean }>((resolve) => {
    ws.onclose = (event) => resolve({ code: event.code, wasClean: event.wasClean });
    ws.close(1000);
  });
  return { extensions: ws.extensions, sent, mismatches, received: echoes.length, close };
}

/**
 * The wire in one direction: one message per message sent, of the right kind, RSV1 on
 * first frames only, compressed as `compressed` says, compressible ones much smaller.
 */
function assertWire(wire: TappedMessage[], sent: PageResult['sent'], compressed: (size: number) => boolean | null, what: string): void {
  assert.equal(wire.length, sent.length, `${what}: messages on the wire`);
  wire.forEach((message, i) => {
    const [kind, size] = sent[i]!;
    assert.equal(message.opcode, kind === 'text' ? TEXT : BINARY, `${what}: message ${i} opcode`);
    // RFC 7692 §6.1: RSV1 on the first frame of a message only; RSV2/RSV3 never.
    message.frames.forEach((frame, n) => {
      assert.ok(!frame.rsv2 && !frame.rsv3, `${what}: message ${i} RSV2/RSV3`);
      if (n > 0) assert.equal(frame.rsv1, false, `${what}: message ${i} frame ${n} has RSV1`);
    });
    const expected = compressed(size);
    if (expected !== null) assert.equal(message.compressed, expected, `${what}: message ${i} (${kind}, ${size} B) RSV1`);
    if (message.compressed && size >= 4096) assert.ok(message.payloadBytes < size / 2, `${what}: message ${i} (${kind}, ${size} B) took ${message.payloadBytes} B`);
    if (!message.compressed) assert.equal(message.payloadBytes, size, `${what}: message ${i} uncompressed size`);
  });
}

/** Index of the repeated message's second copy in `roundTrips`. */
const REPEAT = 19;

describe('permessage-deflate with headless Chromium', { skip: SKIP, timeout: 90_000 }, () => {
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  before(async () => {
    profile = mkdtempSync(join(tmpdir(), 'hotline-chromium-deflate-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('negotiates permessage-deflate with `hotline echo --deflate`; messages of 16 B..1 MiB flow compressed both ways', async () => {
    const echo = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1', '--deflate'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await echoPort(echo);
      const tap = await FrameTap.start(port);
      try {
        const result = await page.evaluate(roundTrips, `ws://127.0.0.1:${tap.port}/chromium`);
        assert.equal(result.extensions, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
        assert.deepEqual(result.mismatches, [], 'every echo equals what was sent, in order');
        assert.equal(result.received, result.sent.length);
        assert.deepEqual(result.close, { code: 1000, wasClean: true });

        const wire = tap.connections[0]!;
        assert.match(wire.toServer.header('sec-websocket-extensions')!, /^permessage-deflate/);
        const fromBrowser = wire.toServer.messages();
        const toBrowser = wire.toClient.messages();
        // Chromium decides by itself which messages to compress; from 1 KiB up it does.
        assertWire(fromBrowser, result.sent, (size) => (size >= THRESHOLD ? true : null), 'Chromium → Hotline');
        assertWire(toBrowser, result.sent, (size) => size >= THRESHOLD, 'Hotline → Chromium');
        // Context takeover both ways: the second copy of a message refers back to the first.
        for (const [what, messages] of [['Chromium → Hotline', fromBrowser], ['Hotline → Chromium', toBrowser]] as const) {
          const [first, second] = [messages[REPEAT - 1]!, messages[REPEAT]!];
          assert.ok(second.payloadBytes < first.payloadBytes / 5, `${what}: repeat took ${second.payloadBytes} B after ${first.payloadBytes} B`);
        }
        const payload = result.sent.reduce((sum, [, size]) => sum + size, 0);
        assert.ok(wire.toClient.bytes < payload / 2, `${wire.toClient.bytes} bytes on the wire for ${payload} bytes of messages`);
      } finally {
        await tap.close();
      }
    } finally {
      const exited = new Promise((resolve) => echo.once('exit', resolve));
      echo.kill('SIGTERM');
      await withTimeout(exited, 5000, 'hotline echo to exit');
    }
  });

  // `takeover`: whether the repeat must refer back to its first copy (null: the window
  // is too small to tell).
  const variants: Array<{ options: PerMessageDeflateOptions; answer: string; takeover: boolean | null }> = [
    {
      options: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      answer: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
      takeover: false,
    },
    {
      // 8 bits: zlib cannot compress with a 256-byte window; Hotline keeps its matches within it.
      options: { serverMaxWindowBits: 8, clientMaxWindowBits: 15, threshold: 0 },
      answer: 'permessage-deflate; server_max_window_bits=8',
      takeover: null,
    },
  ];
  for (const variant of variants) {
    it(`agrees "${variant.answer}" with Chromium; messages flow compressed both ways`, async () => {
      const server = new Server({ perMessageDeflate: variant.options });
      server.route('*', {
        message(peer, data, isBinary) {
          peer.send(data, isBinary);
        },
      });
      const { port } = await server.listen(0, '127.0.0.1');
      const tap = await FrameTap.start(port);
      try {
        const result = await page.evaluate(roundTrips, `ws://127.0.0.1:${tap.port}/`);
        assert.equal(result.extensions, variant.answer);
        assert.deepEqual(result.mismatches, []);
        assert.deepEqual(result.close, { code: 1000, wasClean: true });
        const wire = tap.connections[0]!;
        const threshold = variant.options.threshold ?? THRESHOLD;
        assertWire(wire.toServer.messages(), result.sent, (size) => (size >= THRESHOLD ? true : null), 'Chromium → Hotline');
        assertWire(wire.toClient.messages(), result.sent, (size) => size >= threshold, 'Hotline → Chromium');
        const toBrowser = wire.toClient.messages();
        const [first, second] = [toBrowser[REPEAT - 1]!, toBrowser[REPEAT]!];
        if (variant.takeover === true) assert.ok(second.payloadBytes < first.payloadBytes / 5, 'the repeat refers back');
        else if (variant.takeover === false) assert.ok(second.payloadBytes > first.payloadBytes * 0.9, 'no context: the repeat is compressed afresh');
      } finally {
        await tap.close();
        await server.close({ timeout: 500 });
      }
    });
  }
});

function echoPort(child: ChildProcess): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        const match = /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`hotline echo exited with ${code}: ${out}`)));
    }),
    5000,
    'hotline echo to listen',
  );
}
