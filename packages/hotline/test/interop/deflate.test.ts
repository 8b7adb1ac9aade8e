/**
 * permessage-deflate against an independent implementation, the `ws` package, both ways:
 * a Hotline server with `ws` clients, and a `ws` server with Hotline clients. Every
 * parameter `ws` supports is exercised — server_no_context_takeover,
 * client_no_context_takeover, server_max_window_bits 8..15, client_max_window_bits
 * 8..15 and value-less, and the size threshold — on each side of the handshake.
 *
 * The traffic is modelled on Autobahn's sections 12 and 13: messages of 16 B to 128 KiB,
 * text and binary, compressible and not, some repeated verbatim (so that a message
 * refers back into the previous ones' window) and some with repeats farther back than a
 * small window reaches (so that a sender using a larger window than agreed is caught by
 * the receiver's inflater), some sent as several frames. Every message is echoed and
 * checked byte for byte and in order. A proxy between the two records every frame, so
 * that compression is checked on the wire too: RSV1 on the first frame of a compressed
 * message only, messages under the threshold sent as they are, fewer bytes than the
 * payload for compressible ones.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { WebSocket as WsClient, WebSocketServer, type PerMessageDeflateOptions as WsTypes } from 'ws';

import { Server } from '../../src/server/server.js';
import { WebSocket } from '../../src/client/websocket.js';
import type { PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import type { Peer } from '../../src/types.js';
import { prng, randomBytes, randomInt } from '../support/bytes.js';
import { withTimeout } from '../support/timing.js';
import { FrameTap, type TappedConnection, type TappedMessage } from './frame-tap.js';

/** ws's options as its code takes them: client_max_window_bits may be `true` (offer it value-less). */
type WsDeflateOptions = Omit<WsTypes, 'clientMaxWindowBits'> & { clientMaxWindowBits?: number | true };

const TEXT = 0x1;
const BINARY = 0x2;

// ---- Traffic -----------------------------------------------------------------------------

/** Autobahn 12.x message sizes. */
const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];

interface Message {
  data: Buffer;
  binary: boolean;
  /** Sent as this many frames (1: whole). */
  fragments: number;
}

/**
 * ~300 KiB of text: words with some non-ASCII, and a 24 KiB passage that comes back
 * ~40 KiB later. Inflating a slice with that repeat needs a window above 2^15's reach
 * only if the sender kept to it: a sender using more window than agreed emits matches
 * the receiver cannot resolve.
 */
const CORPUS = ((): string => {
  const random = prng(12);
  const words = Array.from({ length: 600 }, () => {
    const length = randomInt(random, 2, 10);
    let word = '';
    for (let i = 0; i < length; i++) word += String.fromCharCode(97 + randomInt(random, 0, 25));
    return word;
  });
  words.push('café', 'naïve', 'Grüße', '中文', '😀', 'ελληνικά');
  const paragraph = (n: number): string => {
    let text = '';
    while (text.length < n) text += words[randomInt(random, 0, words.length - 1)] + (random() < 0.1 ? '.\n' : ' ');
    return text;
  };
  const passage = paragraph(24 * 1024);
  let text = '';
  while (text.length < 300 * 1024) text += paragraph(16 * 1024) + passage + paragraph(16 * 1024);
  return text;
})();

/** A text message of about `size` bytes: a slice of the corpus (valid UTF-8 by construction). */
function textMessage(random: () => number, size: number): Buffer {
  const start = randomInt(random, 0, CORPUS.length - size - 1);
  return Buffer.from(CORPUS.slice(start, start + size));
}

/** Binary: random bytes (incompressible: deflate falls back to stored blocks) or structured. */
function binaryMessage(random: () => number, size: number): Buffer {
  if (random() < 0.5) return randomBytes(random, size);
  // A bitmap-like pattern: rows that repeat with a little noise, compressible.
  const out = Buffer.alloc(size);
  const row = randomBytes(random, 512);
  for (let i = 0; i < size; i++) out[i] = random() < 0.02 ? (random() * 256) | 0 : row[i % 512]!;
  return out;
}

/**
 * `count` messages cycling through `sizes`, alternating text and binary two by two,
 * one in five a verbatim repeat of an earlier one, large ones sometimes fragmented.
 */
function traffic(seed: number, count: number, sizes: readonly number[]): Message[] {
  const random = prng(seed);
  const out: Message[] = [];
  for (let i = 0; i < count; i++) {
    if (i >= 4 && i % 5 === 4) {
      out.push({ ...out[randomInt(random, Math.max(0, i - 6), i - 1)]!, fragments: 1 });
      continue;
    }
    const size = sizes[(i + Math.floor(i / sizes.length)) % sizes.length]!;
    const binary = (i >> 1) % 2 === 1;
    const data = binary ? binaryMessage(random, size) : textMessage(random, size);
    const fragments = data.length >= 4096 && i % 3 === 0 ? 2 + (i % 4) : 1;
    out.push({ data, binary, fragments });
  }
  return out;
}

/** Autobahn 12-like: every size, text and binary, several rounds. */
const HEAVY = (seed: number) => traffic(seed, 240, SIZES);
/** For the parameter matrix: every size up to 64 KiB, two rounds. */
const LIGHT = (seed: number) => traffic(seed, 24, SIZES.slice(0, 9));

const TIMEOUT = 20_000;

// ---- Checks ------------------------------------------------------------------------------

function assertSameMessages(received: Array<{ data: Buffer; binary: boolean }>, sent: readonly Message[], what: string): void {
  assert.equal(received.length, sent.length, `${what}: message count`);
  for (let i = 0; i < sent.length; i++) {
    const got = received[i]!;
    const want = sent[i]!;
    assert.equal(got.binary, want.binary, `${what}: message ${i} type`);
    if (!got.data.equals(want.data)) {
      assert.fail(`${what}: message ${i} (${want.data.length} bytes) differs: got ${got.data.length} bytes`);
    }
  }
}

/**
 * What the wire must show for one direction: one message per message sent, RSV1 on the
 * first frame only, compressed exactly when `compressed(i)` says, and fewer bytes than
 * the payload for compressed text.
 */
function assertWire(
  wire: TappedMessage[],
  sent: readonly Message[],
  compressed: (message: Message, index: number) => boolean,
  what: string,
): void {
  assert.equal(wire.length, sent.length, `${what}: messages on the wire`);
  for (let i = 0; i < sent.length; i++) {
    const message = wire[i]!;
    const want = sent[i]!;
    assert.equal(message.opcode, want.binary ? BINARY : TEXT, `${what}: message ${i} opcode`);
    assert.equal(message.compressed, compressed(want, i), `${what}: message ${i} (${want.data.length} B) RSV1`);
    for (const [n, frame] of message.frames.entries()) {
      assert.equal(frame.rsv2 || frame.rsv3, false, `${what}: message ${i} RSV2/RSV3`);
      // RFC 7692 §6.1: RSV1 on the first frame of a message only.
      if (n > 0) assert.equal(frame.rsv1, false, `${what}: message ${i} frame ${n} has RSV1`);
    }
    if (message.compressed && !want.binary && want.data.length >= 1024) {
      assert.ok(message.payloadBytes < want.data.length * 0.8, `${what}: message ${i} text ${want.data.length} B took ${message.payloadBytes} B compressed`);
    }
    if (!message.compressed) assert.equal(message.payloadBytes, want.data.length, `${what}: message ${i} uncompressed size`);
  }
}

/**
 * `ws` compresses every message unless no_context_takeover applies to its own sends;
 * then only from the threshold up, judged on the first frame of the message.
 */
function wsCompresses(noContextTakeover: boolean, threshold: number): (m: Message) => boolean {
  return (m) => !noContextTakeover || Math.ceil(m.data.length / m.fragments) >= threshold;
}

function extensionParams(header: string | undefined): Record<string, string | true> {
  assert.ok(header !== undefined && header.startsWith('permessage-deflate'), `negotiated: ${header}`);
  const params: Record<string, string | true> = {};
  for (const part of header.split(';').slice(1)) {
    const [name, value] = part.trim().split('=');
    params[name!] = value ?? true;
  }
  return params;
}

// ---- Hotline server, ws client -----------------------------------------------------------

interface EchoData {
  count: number;
}

/** Every seventh echo goes out with `{ compress: false }`: a per-send switch inside a context. */
const UNCOMPRESSED_ECHO = (index: number) => index % 7 === 3;

interface HotlineServerCase {
  name: string;
  client: WsDeflateOptions;
  server: PerMessageDeflateOptions;
  messages: Message[];
}

async function hotlineServerCase(c: HotlineServerCase): Promise<void> {
  const server = new Server({ perMessageDeflate: c.server });
  let peerExtensions = '';
  server.route('*', {
    upgrade: () => ({ data: { count: 0 } }),
    open(peer: Peer<EchoData>) {
      peerExtensions = peer.extensions;
    },
    message(peer: Peer<EchoData>, data: Buffer, isBinary: boolean) {
      const index = peer.data.count++;
      peer.send(data, isBinary, UNCOMPRESSED_ECHO(index) ? { compress: false } : undefined);
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const tap = await FrameTap.start(port);
  try {
    const ws = new WsClient(`ws://127.0.0.1:${tap.port}/`, { perMessageDeflate: { threshold: 0, ...c.client } as WsTypes });
    const received: Array<{ data: Buffer; binary: boolean }> = [];
    const done = withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.on('message', (data: Buffer, binary: boolean) => {
          received.push({ data, binary });
          if (received.length === c.messages.length) resolve();
        });
        ws.on('error', reject);
        ws.on('close', (code, reason) => {
          if (received.length < c.messages.length) reject(new Error(`closed ${code} ${reason} after ${received.length} echoes`));
        });
      }),
      TIMEOUT,
      `${c.name}: ${c.messages.length} echoes`,
    );
    await withTimeout(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), 2000, 'ws to open');
    done.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
    // ws reports extension names only; Hotline the whole agreement, as it went on the wire.
    assert.equal(ws.extensions, 'permessage-deflate');
    assert.equal(peerExtensions, tap.connections[0]!.toClient.header('sec-websocket-extensions'), 'Hotline reports what it answered');
    for (const message of c.messages) sendWs(ws, message);
    await done;
    assertSameMessages(received, c.messages, c.name);

    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close(1000);
    await closed;
    const wire = tap.connections[0]!;
    const agreed = extensionParams(wire.toClient.header('sec-websocket-extensions'));
    const threshold = c.client.threshold ?? 0;
    assertWire(wire.toServer.messages(), c.messages, wsCompresses('client_no_context_takeover' in agreed, threshold), `${c.name}, ws → Hotline`);
    const hotlineThreshold = c.server.threshold ?? 1024;
    assertWire(
      wire.toClient.messages(),
      c.messages,
      (m, i) => !UNCOMPRESSED_ECHO(i) && m.data.length >= hotlineThreshold,
      `${c.name}, Hotline → ws`,
    );
    checkAgreement(agreed, c.client, c.server);
  } finally {
    await tap.close();
    await server.close({ timeout: 200 });
  }
}

function sendWs(ws: WsClient, message: Message): void {
  if (message.fragments === 1) {
    ws.send(message.data, { binary: message.binary });
    return;
  }
  const step = Math.ceil(message.data.length / message.fragments);
  for (let at = 0; at < message.data.length; at += step) {
    ws.send(message.data.subarray(at, at + step), { binary: message.binary, fin: at + step >= message.data.length });
  }
}

/**
 * The response honours both offers: windows no larger than either side asked for,
 * no_context_takeover wherever either side asked for it.
 */
function checkAgreement(agreed: Record<string, string | true>, client: WsDeflateOptions, server: PerMessageDeflateOptions): void {
  const serverBits = Number(agreed.server_max_window_bits ?? 15);
  if (typeof client.serverMaxWindowBits === 'number') assert.ok(serverBits <= client.serverMaxWindowBits, 'server window within the request');
  assert.ok(serverBits <= (server.serverMaxWindowBits ?? 12), 'server window within the server’s cap');
  if (agreed.client_max_window_bits !== undefined) {
    const clientBits = Number(agreed.client_max_window_bits);
    if (typeof client.clientMaxWindowBits === 'number') assert.ok(clientBits <= client.clientMaxWindowBits);
    assert.ok(clientBits <= (server.clientMaxWindowBits === true ? 15 : (server.clientMaxWindowBits ?? 12)));
  }
  if (client.serverNoContextTakeover || server.serverNoContextTakeover) assert.ok('server_no_context_takeover' in agreed);
  if (client.clientNoContextTakeover || server.clientNoContextTakeover) assert.ok('client_no_context_takeover' in agreed);
}

// ---- ws server, Hotline client -----------------------------------------------------------

interface HotlineClientCase {
  name: string;
  server: WsDeflateOptions;
  client: PerMessageDeflateOptions;
  messages: Message[];
}

/** The `ws` echo sends large messages back in three frames, so that the Hotline client inflates fragmented messages too. */
function wsEcho(ws: WsClient): void {
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (data.length < 32 * 1024) {
      ws.send(data, { binary });
      return;
    }
    const step = Math.ceil(data.length / 3);
    for (let at = 0; at < data.length; at += step) ws.send(data.subarray(at, at + step), { binary, fin: at + step >= data.length });
  });
}

/**
 * A Hotline client through a frame tap to an echo server on `port`: sends every message,
 * checks the echoes byte for byte and in order, closes, and returns the wire.
 */
async function hotlineClientRoundTrip(port: number, client: PerMessageDeflateOptions, messages: readonly Message[], name: string): Promise<TappedConnection> {
  const tap = await FrameTap.start(port);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${tap.port}/`, [], { perMessageDeflate: client });
    ws.binaryType = 'nodebuffer';
    const received: Array<{ data: Buffer; binary: boolean }> = [];
    const done = withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onmessage = (event) => {
          const binary = typeof event.data !== 'string';
          received.push({ data: binary ? (event.data as Buffer) : Buffer.from(event.data as string), binary });
          if (received.length === messages.length) resolve();
        };
        ws.onclose = (event) => {
          if (received.length < messages.length) reject(new Error(`closed ${event.code} ${event.reason} after ${received.length} echoes`));
        };
      }),
      TIMEOUT,
      `${name}: ${messages.length} echoes`,
    );
    done.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (event) => reject((event as unknown as { error: Error }).error);
      }),
      2000,
      'the Hotline client to open',
    );
    assert.equal(ws.extensions, tap.connections[0]!.toClient.header('sec-websocket-extensions'), 'Hotline reports what it was answered');
    // The WHATWG API sends whole messages; text goes as a string.
    for (const message of messages) ws.send(message.binary ? message.data : message.data.toString());
    await done;
    assertSameMessages(received, messages, name);

    const closed = new Promise((resolve) => (ws.onclose = resolve));
    ws.close(1000);
    await closed;
    const wire = tap.connections[0]!;
    const clientThreshold = client.threshold ?? 1024;
    assertWire(wire.toServer.messages(), messages.map((m) => ({ ...m, fragments: 1 })), (m) => m.data.length >= clientThreshold, `${name}, Hotline → server`);
    return wire;
  } finally {
    await tap.close();
  }
}

async function hotlineClientCase(c: HotlineClientCase): Promise<void> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, ...c.server } as WsTypes });
  await new Promise((resolve) => wss.once('listening', resolve));
  let serverExtensions = '';
  wss.on('connection', (ws) => {
    serverExtensions = ws.extensions;
    wsEcho(ws);
  });
  try {
    const wire = await hotlineClientRoundTrip((wss.address() as AddressInfo).port, c.client, c.messages, c.name);
    assert.equal(serverExtensions, 'permessage-deflate');
    const agreed = extensionParams(wire.toClient.header('sec-websocket-extensions'));
    const serverThreshold = c.server.threshold ?? 0;
    const echoed = c.messages.map((m) => ({ ...m, fragments: m.data.length < 32 * 1024 ? 1 : 3 }));
    for (const [i, message] of wire.toClient.messages().entries()) assert.equal(message.frames.length, echoed[i]!.fragments, `echo ${i} frames`);
    assertWire(wire.toClient.messages(), echoed, wsCompresses('server_no_context_takeover' in agreed, serverThreshold), `${c.name}, ws → Hotline`);
  } finally {
    await new Promise((resolve) => wss.close(resolve));
  }
}

// ---- The cases ---------------------------------------------------------------------------

const NO_CONTEXT = [
  { serverNoContextTakeover: false, clientNoContextTakeover: false },
  { serverNoContextTakeover: true, clientNoContextTakeover: false },
  { serverNoContextTakeover: false, clientNoContextTakeover: true },
  { serverNoContextTakeover: true, clientNoContextTakeover: true },
] as const;

const label = (o: object) =>
  Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || 'defaults';

describe('permessage-deflate: Hotline server, ws client', { timeout: 120_000 }, () => {
  // Autobahn 12-like: 240 messages of every size, under each context-takeover setting,
  // at the smallest, the default and the largest windows.
  const heavy: Array<{ client: WsDeflateOptions; server: PerMessageDeflateOptions }> = [
    { client: {}, server: {} },
    { client: { ...NO_CONTEXT[3] }, server: { serverMaxWindowBits: 9, clientMaxWindowBits: 9 } },
    { client: { serverMaxWindowBits: 15, clientMaxWindowBits: 15, ...NO_CONTEXT[1] }, server: { serverMaxWindowBits: 15, clientMaxWindowBits: 15 } },
    { client: { clientMaxWindowBits: 10, ...NO_CONTEXT[2] }, server: { serverMaxWindowBits: 11, threshold: 0 } },
  ];
  for (const [i, h] of heavy.entries()) {
    it(`echoes 240 messages of 16 B..128 KiB, ws ${label(h.client)} / Hotline ${label(h.server)}`, () =>
      hotlineServerCase({ name: `heavy ${i}`, ...h, messages: HEAVY(100 + i) }));
  }

  // Every window ws can request, each direction, against every context-takeover setting
  // and a Hotline server that allows all of them.
  const serverBits = [undefined, 8, 9, 10, 11, 12, 13, 14, 15];
  const clientBits = [undefined, true, 8, 9, 10, 11, 12, 13, 14, 15] as const;
  const thresholds = [undefined, 0, 4096];
  let n = 0;
  for (const s of serverBits) {
    it(`echoes every size with ws server_max_window_bits=${s ?? '(none)'} × each client_max_window_bits`, async () => {
      for (const c of clientBits) {
        n++;
        const client: WsDeflateOptions = {
          ...(s !== undefined ? { serverMaxWindowBits: s } : {}),
          ...(c !== undefined ? { clientMaxWindowBits: c } : {}),
          ...NO_CONTEXT[n % 4],
          ...(thresholds[n % 3] !== undefined ? { threshold: thresholds[n % 3] } : {}),
        };
        // Hotline's own caps: usually wide open; every third case its defaults (12),
        // so that ws must keep to a window Hotline chose.
        const server: PerMessageDeflateOptions = n % 3 === 0 ? { threshold: 256 } : { serverMaxWindowBits: 15, clientMaxWindowBits: 15, threshold: 0 };
        await hotlineServerCase({ name: `ws ${label(client)} / Hotline ${label(server)}`, client, server, messages: LIGHT(n) });
      }
    });
  }
});

describe('permessage-deflate: ws server, Hotline client', { timeout: 120_000 }, () => {
  const heavy: Array<{ server: WsDeflateOptions; client: PerMessageDeflateOptions }> = [
    { server: {}, client: {} },
    { server: { ...NO_CONTEXT[3], serverMaxWindowBits: 9, clientMaxWindowBits: 9 }, client: { threshold: 0 } },
    { server: { ...NO_CONTEXT[1], serverMaxWindowBits: 15 }, client: { clientMaxWindowBits: 15 } },
    { server: { ...NO_CONTEXT[2], clientMaxWindowBits: 10 }, client: { clientMaxWindowBits: true, serverMaxWindowBits: 11, threshold: 64 } },
  ];
  for (const [i, h] of heavy.entries()) {
    it(`echoes 240 messages of 16 B..128 KiB, ws ${label(h.server)} / Hotline ${label(h.client)}`, () =>
      hotlineClientCase({ name: `heavy ${i}`, ...h, messages: HEAVY(200 + i) }));
  }

  // ws as a server takes client_max_window_bits only from an offer that allows it, and
  // server_max_window_bits only if no smaller one was requested: the Hotline client
  // offers the exact value, the value-less form or (where ws takes it) its default 12,
  // and requests the server window in alternate cases.
  const serverBits = [undefined, 8, 9, 10, 11, 12, 13, 14, 15];
  const clientBits = [undefined, true, 8, 9, 10, 11, 12, 13, 14, 15] as const;
  const thresholds = [undefined, 0, 4096];
  let n = 0;
  for (const [si, s] of serverBits.entries()) {
    it(`echoes every size with ws serverMaxWindowBits=${s ?? '(none)'} × each clientMaxWindowBits`, async () => {
      for (const [ci, c] of clientBits.entries()) {
        n++;
        const alternate = (si + ci) % 2 === 1;
        const server: WsDeflateOptions = {
          ...(s !== undefined ? { serverMaxWindowBits: s } : {}),
          ...(c !== undefined ? { clientMaxWindowBits: c } : {}),
          ...NO_CONTEXT[n % 4],
          ...(thresholds[n % 3] !== undefined ? { threshold: thresholds[n % 3] } : {}),
        };
        const client: PerMessageDeflateOptions = {
          ...(typeof c === 'number' ? { clientMaxWindowBits: alternate ? true : c } : alternate ? { clientMaxWindowBits: true } : {}),
          ...(s !== undefined && alternate ? { serverMaxWindowBits: s } : {}),
          threshold: n % 3 === 0 ? 0 : 1024,
        };
        await hotlineClientCase({ name: `ws ${label(server)} / Hotline ${label(client)}`, server, client, messages: LIGHT(1000 + n) });
      }
    });
  }
});

// ---- uWebSockets.js server, Hotline client ---------------------------------------------------

/**
 * uWebSockets.js (C++, its own permessage-deflate code) as a third, independent peer.
 * Loaded from its native addon, so that the package's JavaScript fallback (built on
 * `ws`) is never what answers.
 */
interface Uws {
  App(): any;
  us_listen_socket_close(token: unknown): void;
  us_socket_local_port(token: unknown): number;
  [name: string]: any;
}

function loadUws(): Uws | string {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
    const uws = require(path.join(dir, 'dist', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)) as Uws;
    return typeof uws.App === 'function' && String(uws.App).includes('[native code]') ? uws : 'not the native addon';
  } catch (error) {
    return (error as Error).message;
  }
}

const uws = loadUws();

async function uwsServer(compression: number): Promise<{ port: number; close: () => void }> {
  const u = uws as Uws;
  const app = u.App();
  app.ws('/*', {
    compression,
    maxPayloadLength: 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    // The third argument asks uWS to compress the echo.
    message: (ws: any, message: ArrayBuffer, isBinary: boolean) => ws.send(message, isBinary, true),
  });
  const token = await new Promise<unknown>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (t: unknown) => (t ? resolve(t) : reject(new Error('uWS could not listen')))),
  );
  return {
    port: u.us_socket_local_port(token),
    close: () => {
      u.us_listen_socket_close(token);
      app.close?.();
    },
  };
}

describe('permessage-deflate: uWebSockets.js server, Hotline client', { timeout: 60_000, skip: typeof uws === 'string' && `uWebSockets.js unavailable: ${uws}` }, () => {
  const u = uws as Uws;
  const compressors = ['SHARED_COMPRESSOR', 'DEDICATED_COMPRESSOR_3KB', 'DEDICATED_COMPRESSOR_4KB', 'DEDICATED_COMPRESSOR_8KB', 'DEDICATED_COMPRESSOR_16KB', 'DEDICATED_COMPRESSOR_32KB', 'DEDICATED_COMPRESSOR_64KB', 'DEDICATED_COMPRESSOR_128KB', 'DEDICATED_COMPRESSOR_256KB'];
  const decompressors = ['SHARED_DECOMPRESSOR', 'DEDICATED_DECOMPRESSOR_512B', 'DEDICATED_DECOMPRESSOR_1KB', 'DEDICATED_DECOMPRESSOR_2KB', 'DEDICATED_DECOMPRESSOR_4KB', 'DEDICATED_DECOMPRESSOR_8KB', 'DEDICATED_DECOMPRESSOR_16KB', 'DEDICATED_DECOMPRESSOR_32KB'];
  let n = 0;
  for (const compressor of compressors) {
    it(`echoes every size with ${compressor} × each decompressor, the Hotline client offering its default or the value-less window`, async () => {
      for (const decompressor of decompressors) {
        n++;
        const name = `uWS ${compressor} | ${decompressor}`;
        const server = await uwsServer(u[compressor] | u[decompressor]);
        try {
          const client: PerMessageDeflateOptions = n % 2 === 0 ? {} : { clientMaxWindowBits: true, threshold: 0 };
          const wire = await hotlineClientRoundTrip(server.port, client, LIGHT(3000 + n), name);
          const answer = wire.toClient.header('sec-websocket-extensions');
          assert.match(answer ?? '', /^permessage-deflate/, `${name}: uWS agreed to compress`);
          // Whatever uWS chooses to compress: RSV1 on first frames only, and it does compress.
          const echoes = wire.toClient.messages();
          assert.equal(echoes.length, LIGHT(3000 + n).length);
          for (const echo of echoes) for (const frame of echo.frames.slice(1)) assert.equal(frame.rsv1, false, `${name}: RSV1 on a continuation`);
          assert.ok(echoes.some((m) => m.compressed), `${name}: uWS compressed nothing`);
        } finally {
          server.close();
        }
      }
    });
  }
});
