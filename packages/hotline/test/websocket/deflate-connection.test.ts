/**
 * permessage-deflate in the connection shell, over real sockets. A raw TCP peer builds
 * the compressed frames itself with Node's zlib (not Hotline's codec) and reads what
 * Hotline sends frame by frame, so that RSV1 and the compressed bytes are checked on the
 * wire: RSV1 on compressed messages only and only on their first frame (RFC 7692 §6.1),
 * the size threshold and the per-send switch, order kept through the codec stage and a
 * process-wide limiter of 1, pings between and during compressed messages, and every
 * bad input — a decompression bomb, corrupt data, RSV1 where it has no meaning — failing
 * that one connection with its precise close code while a healthy one goes on. The
 * server side first, then the client against a raw server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { WebSocket as WsClient } from 'ws';

import type { Server } from '../../src/server/server.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import { WebSocket } from '../../src/client/websocket.js';
import { DEFLATE_DEFAULTS } from '../../src/protocol/permessage-deflate.js';
import { zlibLimiter } from '../../src/websocket/zlib-limiter.js';
import type { PerMessageDeflate } from '../../src/websocket/permessage-deflate.js';
import type { Peer, SendResult } from '../../src/types.js';
import { frame, prng, randomBytes } from '../support/bytes.js';
import { RawPeer, type ReadFrame, acceptFor, clientFrame, closePayload, upgradeRequest } from '../support/raw.js';
import { Recorder, assertEchoes, expectFailedConnection, closeWs, listening, wsClient } from '../support/server.js';
import { deferred, delay, eventually, nextEvent, withTimeout } from '../support/timing.js';

const CONTINUATION = 0x0;
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const KiB = 1024;
const MiB = 1024 * 1024;

const OFFER = 'permessage-deflate; client_max_window_bits';
// RFC 7692 §7.2.1: the sender removes the 00 00 ff ff a sync flush ends with; §7.2.2:
// the receiver appends it again before inflating.
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// ---- A peer's zlib, independent of Hotline's codec ---------------------------------------

/**
 * One message compressed on its own (no window shared with others), trailer removed.
 * 12 bits: the window the server's defaults let a client use.
 */
function deflate(data: Buffer | string, windowBits = 12): Buffer {
  const out = zlib.deflateRawSync(Buffer.from(data), { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits });
  assert.deepEqual(out.subarray(-4), TRAILER);
  return out.subarray(0, out.length - 4);
}

/** A zlib stream kept across messages, as a peer with context takeover runs it (one direction). */
class Stream {
  private readonly zlib: zlib.DeflateRaw | zlib.InflateRaw;
  private chunks: Buffer[] = [];

  /** `windowBits`: the agreed window of the direction (the inflater always takes 15, which reads any). */
  constructor(
    readonly inflate: boolean,
    windowBits = 12,
  ) {
    this.zlib = inflate ? zlib.createInflateRaw() : zlib.createDeflateRaw({ windowBits });
    this.zlib.on('data', (chunk: Buffer) => this.chunks.push(chunk));
  }

  /** Compresses (trailer removed) or inflates (trailer appended) one whole message. */
  message(data: Buffer | string): Promise<Buffer> {
    this.zlib.write(Buffer.from(data));
    if (this.inflate) this.zlib.write(TRAILER);
    return new Promise((resolve, reject) => {
      this.zlib.once('error', reject);
      this.zlib.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.zlib.off('error', reject);
        const out = Buffer.concat(this.chunks.splice(0));
        resolve(this.inflate ? out : out.subarray(0, out.length - 4));
      });
    });
  }

  close(): void {
    this.zlib.close();
  }
}

/** Text that compresses well, different for every `seed`. */
function text(size: number, seed = 1): string {
  const random = prng(seed);
  const words = ['hotline', 'frame', 'deflate', 'window', 'context', 'message', 'socket', 'ping', 'pong'];
  let out = '';
  while (out.length < size) out += words[(random() * words.length) | 0] + ' ';
  return out.slice(0, size);
}

/** Bytes that do not compress (hex of them compresses only to about half). */
function noise(size: number, seed: number): Buffer {
  return randomBytes(prng(seed), size);
}

// ---- Opening a raw connection with an offer ----------------------------------------------

async function openRaw(port: number, path: string, extensions: string | null): Promise<{ raw: RawPeer; answer: string | undefined }> {
  const raw = await RawPeer.connect(port);
  const key = cryptoRandomBytes(16).toString('base64');
  raw.write(upgradeRequest(path, key, extensions === null ? {} : { 'Sec-WebSocket-Extensions': extensions }));
  const head = await raw.readHead();
  assert.equal(head.status, 101, head.raw);
  assert.equal(head.headers['sec-websocket-accept'], acceptFor(key));
  return { raw, answer: head.headers['sec-websocket-extensions'] };
}

/** Reads `n` data frames, answering nothing; control frames are returned in `control`. */
async function readData(raw: RawPeer, n: number, ms = 5000): Promise<{ data: ReadFrame[]; control: ReadFrame[] }> {
  const deadline = Date.now() + ms;
  const data: ReadFrame[] = [];
  const control: ReadFrame[] = [];
  while (data.length < n) {
    const next = await raw.readFrame(Math.max(1, deadline - Date.now()));
    (next.opcode >= 0x8 ? control : data).push(next);
  }
  return { data, control };
}

// ---- The server ----------------------------------------------------------------------------

interface Fixture {
  server: Server;
  port: number;
  recorder: Recorder;
  /** A well-behaved `ws` client that compresses everything it sends. */
  good: WsClient;
}

async function fixture(options: ConstructorParameters<typeof Server>[0]): Promise<Fixture> {
  const recorder = new Recorder();
  const { server, port, url } = await listening({ closeTimeout: 500, ...options }, (s) => {
    // /quiet records without answering, so that a test reads only what it sends itself.
    s.route('/quiet', recorder.handler());
    s.route('*', recorder.echo());
  });
  const good = await wsClient(`${url}/good`, undefined, { perMessageDeflate: { threshold: 0 } });
  await recorder.nextPeer();
  assert.equal(good.extensions, 'permessage-deflate');
  return { server, port, recorder, good };
}

async function teardown(f: Fixture): Promise<void> {
  await closeWs(f.good);
  await f.server.close({ timeout: 500 });
}

/** The next message a `ws` client receives (its EventTarget side would give a MessageEvent). */
function wsMessage(ws: WsClient, ms = 3000): Promise<Buffer> {
  return withTimeout(new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data))), ms, 'a message to the ws client');
}

/** The healthy connection still gets its echo, and a compressed one at that. */
async function assertHealthy(f: Fixture): Promise<void> {
  await assertEchoes(f.good);
  const big = text(8 * KiB, 99);
  const reply = wsMessage(f.good);
  f.good.send(big);
  assert.equal((await reply).toString(), big);
}

/**
 * Sends `bytes` on a fresh connection that negotiated `offer` and checks the outcome:
 * a Close frame with `closeCode`, the `error` hook with `errorCode`, TCP closed by the
 * server, nothing delivered, and the healthy connection unaffected.
 */
async function expectFailure(
  f: Fixture,
  offer: string | null,
  bytes: Buffer | Buffer[],
  closeCode: number,
  errorCode: string,
): Promise<{ raw: RawPeer; peer: Peer<any> }> {
  const { raw } = await openRaw(f.port, '/quiet', offer);
  const peer = await f.recorder.nextPeer();
  await expectFailedConnection(raw, f.recorder, peer, bytes, closeCode, errorCode, 3000);
  await assertHealthy(f);
  return { raw, peer };
}

describe('permessage-deflate over real sockets: what the server sends', { timeout: 30_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ perMessageDeflate: true });
  });
  after(() => teardown(f));

  async function quietPeer(offer: string | null = OFFER): Promise<{ raw: RawPeer; peer: Peer<any>; answer: string | undefined }> {
    const { raw, answer } = await openRaw(f.port, '/quiet', offer);
    const peer = await f.recorder.nextPeer();
    return { raw, peer, answer };
  }

  it('answers the offer with the default windows', async () => {
    const { raw, answer, peer } = await quietPeer();
    assert.equal(answer, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
    assert.equal(peer.extensions, answer);
    raw.destroy();
  });

  it('answers the first acceptable of several offers, and honours it (Autobahn 13.7)', async () => {
    const offers = 'permessage-deflate; client_no_context_takeover; client_max_window_bits, permessage-deflate; client_no_context_takeover, permessage-deflate';
    const { raw, answer, peer } = await quietPeer(offers);
    assert.equal(answer, 'permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12');
    // No context on our side either: every message compressed on its own inflates.
    for (let i = 0; i < 3; i++) raw.send({ opcode: TEXT, payload: deflate(text(3 * KiB, i)), rsv1: true });
    await eventually(() => f.recorder.of('message', peer).length === 3, 2000, 'three messages');
    assert.deepEqual(f.recorder.of('message', peer).map((m) => m.data.toString()), [0, 1, 2].map((i) => text(3 * KiB, i)));
    raw.destroy();
  });

  it('inflates a 128 KiB message cut into 64-byte frames (Autobahn 12.x auto-fragmentation)', async () => {
    const { raw, peer } = await quietPeer();
    const message = text(128 * KiB, 12);
    const payload = deflate(message);
    const frames: Buffer[] = [];
    for (let at = 0; at < payload.length; at += 64) {
      frames.push(clientFrame({ opcode: at === 0 ? TEXT : CONTINUATION, payload: payload.subarray(at, at + 64), rsv1: at === 0, fin: at + 64 >= payload.length }));
    }
    assert.ok(frames.length > 20, `${frames.length} frames`);
    raw.write(Buffer.concat(frames));
    const got = await f.recorder.wait('message', peer);
    assert.equal(got.data.toString(), message);
    raw.destroy();
  });

  it('sends a message over the threshold as one frame with RSV1, which inflates to what was sent', async () => {
    const { raw, peer } = await quietPeer();
    const message = text(20 * KiB);
    assert.notEqual(peer.send(message), 'dropped');
    const [got] = (await readData(raw, 1)).data;
    assert.equal(got!.rsv1, true);
    assert.equal(got!.fin, true, 'one frame: RSV1 can only be on the first');
    assert.equal(got!.opcode, TEXT);
    assert.ok(got!.payload.length < message.length / 2, `${got!.payload.length} bytes on the wire`);
    assert.equal(zlib.inflateRawSync(Buffer.concat([got!.payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString(), message);
    raw.destroy();
  });

  it('sends messages under the threshold (1024 B) uncompressed, from the threshold up compressed', async () => {
    const { raw, peer } = await quietPeer();
    const stream = new Stream(true);
    for (const size of [0, 1, 100, 1023, 1024, 1025]) peer.send(Buffer.from(text(size)), true);
    const { data } = await readData(raw, 6);
    assert.deepEqual(data.map((d) => d.rsv1), [false, false, false, false, true, true]);
    assert.deepEqual(data.map((d) => d.opcode), [BINARY, BINARY, BINARY, BINARY, BINARY, BINARY]);
    assert.equal(data[3]!.payload.toString(), text(1023));
    assert.equal((await stream.message(data[4]!.payload)).toString(), text(1024));
    assert.equal((await stream.message(data[5]!.payload)).toString(), text(1025));
    stream.close();
    raw.destroy();
  });

  it('follows the per-send switch both ways: { compress: false } over the threshold, { compress: true } under it', async () => {
    const { raw, peer } = await quietPeer();
    const stream = new Stream(true);
    peer.send(text(4 * KiB), false, { compress: false });
    peer.send('tiny', false, { compress: true });
    peer.send('', false, { compress: true });
    const { data } = await readData(raw, 3);
    assert.equal(data[0]!.rsv1, false);
    assert.equal(data[0]!.payload.toString(), text(4 * KiB));
    assert.equal(data[1]!.rsv1, true);
    assert.equal((await stream.message(data[1]!.payload)).toString(), 'tiny');
    // RFC 7692 §7.2.3.6: an empty message compresses to a single 00 byte.
    assert.equal(data[2]!.rsv1, true);
    assert.deepEqual(data[2]!.payload, Buffer.from([0x00]));
    assert.equal((await stream.message(data[2]!.payload)).length, 0);
    stream.close();
    raw.destroy();
  });

  it('sends streamed fragments uncompressed: no RSV1 on any of them', async () => {
    const { raw, peer } = await quietPeer();
    const streaming = peer as unknown as WebSocketPeer<unknown>;
    streaming.sendFragment(text(2 * KiB, 1), false, false);
    streaming.sendFragment(text(2 * KiB, 2), false, false);
    streaming.sendFragment(text(2 * KiB, 3), false, true);
    const { data } = await readData(raw, 3);
    assert.deepEqual(data.map((d) => [d.opcode, d.fin, d.rsv1]), [[TEXT, false, false], [CONTINUATION, false, false], [CONTINUATION, true, false]]);
    raw.destroy();
  });

  it('sends nothing compressed to a peer that did not offer permessage-deflate', async () => {
    const { raw, peer, answer } = await quietPeer(null);
    assert.equal(answer, undefined);
    assert.equal(peer.extensions, '');
    peer.send(text(8 * KiB));
    peer.send('x', false, { compress: true });
    const { data } = await readData(raw, 2);
    assert.deepEqual(data.map((d) => d.rsv1), [false, false]);
    assert.equal(data[0]!.payload.toString(), text(8 * KiB));
    raw.destroy();
  });
});

describe('permessage-deflate over real sockets: order through the codec stage, on a limiter of 1', { timeout: 30_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ perMessageDeflate: { concurrency: 1 } });
  });
  after(async () => {
    await teardown(f);
  });

  // Regression: the limiter was process-wide, and each server made set its concurrency
  // for every other server (and every client).
  it("runs on a limiter of the server's own, leaving the process-wide one alone", async () => {
    const { raw } = await openRaw(f.port, '/quiet', OFFER);
    const peer = await f.recorder.nextPeer();
    const limiter = (peer as unknown as { shell: { negotiated: { codec: PerMessageDeflate } } }).shell.negotiated.codec.limiter;
    assert.equal(limiter.concurrency, 1);
    assert.notEqual(limiter, zlibLimiter);
    assert.equal(zlibLimiter.concurrency, DEFLATE_DEFAULTS.concurrency);
    const other = await listening({ perMessageDeflate: { concurrency: 3 } }, (s) => s.route('*', f.recorder.handler()));
    const { raw: second } = await openRaw(other.port, '/', OFFER);
    const otherPeer = await f.recorder.nextPeer();
    const otherLimiter = (otherPeer as unknown as { shell: { negotiated: { codec: PerMessageDeflate } } }).shell.negotiated.codec.limiter;
    assert.equal(otherLimiter.concurrency, 3);
    assert.equal(limiter.concurrency, 1, 'a second server does not change the first');
    raw.destroy();
    second.destroy();
    await other.server.close({ timeout: 100 });
  });

  /** Six kinds of send, in turn: compressed by size, small, switched off, switched on, empty, large. */
  const plan = Array.from({ length: 72 }, (_, i) => {
    const kind = i % 6;
    const size = [3000, 10, 20 * KiB, 12, 0, 70 * KiB][kind]!;
    const compress = [undefined, undefined, false, true, undefined, undefined][kind];
    const compressed = [true, false, false, true, false, true][kind]!;
    const binary = i % 4 >= 2;
    const body = Buffer.from(`#${i}:` + text(size, i));
    return { data: size === 0 ? Buffer.alloc(0) : body.subarray(0, Math.max(size, 8)), binary, compress, compressed };
  });

  it('sends mixed compressed and uncompressed messages in call order, to three peers at once', async () => {
    const peers = await Promise.all([1, 2, 3].map(async () => {
      const { raw } = await openRaw(f.port, '/quiet', OFFER);
      return { raw, peer: await f.recorder.nextPeer() };
    }));
    const results: SendResult[] = [];
    for (const item of plan) {
      for (const { peer } of peers) results.push(peer.send(item.data, item.binary, item.compress === undefined ? undefined : { compress: item.compress }));
    }
    assert.ok(!results.includes('dropped'));
    for (const { raw } of peers) {
      const stream = new Stream(true);
      const { data } = await readData(raw, plan.length, 10_000);
      for (const [i, item] of plan.entries()) {
        const got = data[i]!;
        assert.equal(got.opcode, item.binary ? BINARY : TEXT, `message ${i} opcode`);
        assert.equal(got.rsv1, item.compressed, `message ${i} RSV1`);
        assert.equal(got.fin, true);
        const payload = got.rsv1 ? await stream.message(got.payload) : got.payload;
        assert.ok(payload.equals(item.data), `message ${i} content`);
      }
      stream.close();
      raw.destroy();
    }
  });

  it('delivers mixed compressed, uncompressed and fragmented messages in the order they arrived', async () => {
    const { raw } = await openRaw(f.port, '/quiet', OFFER);
    const peer = await f.recorder.nextPeer();
    // The peer keeps its compression context across messages: each compressed message
    // refers back into the ones before, so inflating out of order would fail.
    const stream = new Stream(false);
    const sent: Array<{ data: Buffer; binary: boolean }> = [];
    const bytes: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const binary = i % 3 === 1;
      const data = Buffer.from(i % 10 === 9 ? '' : `#${i % 7}:` + text(200 + (i % 5) * 3000, i % 7));
      sent.push({ data, binary });
      const opcode = binary ? BINARY : TEXT;
      const kind = i % 4;
      if (kind === 0 || kind === 2) {
        const payload = await stream.message(data);
        if (kind === 0) {
          bytes.push(clientFrame({ opcode, payload, rsv1: true }));
        } else {
          // RFC 7692 §6.1: RSV1 on the first frame only, the compressed data cut anywhere.
          const a = Math.floor(payload.length / 3);
          const b = Math.floor((2 * payload.length) / 3);
          bytes.push(
            clientFrame({ opcode, payload: payload.subarray(0, a), rsv1: true, fin: false }),
            clientFrame({ opcode: PING, payload: `p${i}` }),
            clientFrame({ opcode: CONTINUATION, payload: payload.subarray(a, b), fin: false }),
            clientFrame({ opcode: CONTINUATION, payload: payload.subarray(b) }),
          );
        }
      } else if (kind === 1) {
        bytes.push(clientFrame({ opcode, payload: data }));
      } else {
        const half = Math.floor(data.length / 2);
        bytes.push(clientFrame({ opcode, payload: data.subarray(0, half), fin: false }), clientFrame({ opcode: CONTINUATION, payload: data.subarray(half) }));
      }
    }
    stream.close();
    raw.write(Buffer.concat(bytes));
    await eventually(() => f.recorder.of('message', peer).length === sent.length, 10_000, 'every message');
    const got = f.recorder.of('message', peer);
    for (const [i, item] of sent.entries()) {
      assert.equal(got[i]!.isBinary, item.binary, `message ${i} type`);
      assert.ok(got[i]!.data.equals(item.data), `message ${i} content`);
    }
    // Every ping between fragments was answered, in order (this route sends nothing else).
    const pongs: string[] = [];
    while (pongs.length < 15) {
      const next = await raw.readFrame();
      assert.equal(next.opcode, PONG);
      pongs.push(next.payload.toString());
    }
    assert.deepEqual(pongs, Array.from({ length: 15 }, (_, k) => `p${k * 4 + 2}`));
    raw.destroy();
  });
});

describe('permessage-deflate over real sockets: pings around compressed messages', { timeout: 30_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ perMessageDeflate: true });
  });
  after(() => teardown(f));

  it('answers pings between the fragments of a compressed message at once, then echoes in order', async () => {
    const { raw } = await openRaw(f.port, '/echo', OFFER);
    await f.recorder.nextPeer();
    const message = text(64 * KiB, 5);
    const payload = deflate(message);
    const half = Math.floor(payload.length / 2);
    raw.write(
      Buffer.concat([
        clientFrame({ opcode: TEXT, payload: payload.subarray(0, half), rsv1: true, fin: false }),
        clientFrame({ opcode: PING, payload: 'a' }),
        clientFrame({ opcode: CONTINUATION, payload: payload.subarray(half) }),
        clientFrame({ opcode: PING, payload: 'b' }),
        clientFrame({ opcode: TEXT, payload: 'after' }),
      ]),
    );
    const frames = [await raw.readFrame(), await raw.readFrame(), await raw.readFrame(), await raw.readFrame()];
    // The automatic pongs go out first (STYLE.md §2); the echoes follow in order.
    assert.deepEqual(frames.map((x) => [x.opcode, x.rsv1]), [[PONG, false], [PONG, false], [TEXT, true], [TEXT, false]]);
    assert.deepEqual(frames.slice(0, 2).map((x) => x.payload.toString()), ['a', 'b']);
    assert.equal(zlib.inflateRawSync(Buffer.concat([frames[2]!.payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString(), message);
    assert.equal(frames[3]!.payload.toString(), 'after');
    raw.destroy();
  });

  // The violation waits behind the inflation of the message before it, and the Close
  // behind that message's echo, itself being compressed (RFC 6455 §7.1.7 after §5.5.1).
  it('echoes a compressed message sent in one write with a violation, compressed, before the Close', async () => {
    const { raw } = await openRaw(f.port, '/echo', OFFER);
    const peer = await f.recorder.nextPeer();
    const message = text(4 * KiB, 11);
    raw.write(
      Buffer.concat([
        clientFrame({ opcode: TEXT, payload: deflate(message), rsv1: true }),
        clientFrame({ opcode: TEXT, payload: 'plain' }),
        clientFrame({ opcode: CONTINUATION, payload: 'stray' }),
      ]),
    );
    const close = await raw.readClose(3000);
    assert.equal(close.code, 1002);
    assert.deepEqual(close.before.map((x) => [x.opcode, x.rsv1]), [[TEXT, true], [TEXT, false]]);
    const echo = zlib.inflateRawSync(Buffer.concat([close.before[0]!.payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits: 12 });
    assert.equal(echo.toString(), message);
    assert.equal(close.before[1]!.payload.toString(), 'plain');
    assert.equal((await f.recorder.wait('error', peer)).error.code, 'HL_ERR_UNEXPECTED_CONTINUATION');
    await raw.waitEnd();
    assert.equal(raw.rest(), '', 'nothing after the Close');
    raw.destroy();
  });

  it('answers a ping that arrives while a message inflates, and keeps the messages in order', async () => {
    const { raw } = await openRaw(f.port, '/quiet', OFFER);
    const peer = await f.recorder.nextPeer();
    // ~8 MiB inflated: long enough that the ping arrives while zlib works.
    const big = Buffer.alloc(8 * MiB, 'hotline ');
    raw.write(clientFrame({ opcode: BINARY, payload: deflate(big), rsv1: true }));
    await delay(1);
    raw.write(Buffer.concat([clientFrame({ opcode: PING, payload: 'during' }), clientFrame({ opcode: TEXT, payload: 'next' })]));
    const pong = await raw.readFrame(3000);
    assert.equal(pong.opcode, PONG);
    assert.equal(pong.payload.toString(), 'during');
    await eventually(() => f.recorder.of('message', peer).length === 2, 3000, 'both messages');
    const [first, second] = f.recorder.of('message', peer);
    assert.ok(first!.data.equals(big));
    assert.equal(second!.data.toString(), 'next');
    raw.destroy();
  });
});

describe('permessage-deflate over real sockets: bad input fails that connection alone', { timeout: 30_000 }, () => {
  let f: Fixture;
  const LIMIT = 64 * KiB;
  before(async () => {
    f = await fixture({ perMessageDeflate: true, maxPayload: LIMIT });
  });
  after(() => teardown(f));

  it('inflates a message of exactly maxPayload bytes', async () => {
    const { raw } = await openRaw(f.port, '/quiet', OFFER);
    const peer = await f.recorder.nextPeer();
    raw.send({ opcode: BINARY, payload: deflate(Buffer.alloc(LIMIT)), rsv1: true });
    const message = await f.recorder.wait('message', peer);
    assert.equal(message.data.length, LIMIT);
    raw.destroy();
  });

  it('fails with 1009 HL_ERR_MESSAGE_TOO_BIG when the inflated size passes maxPayload by one byte', async () => {
    await expectFailure(f, OFFER, clientFrame({ opcode: BINARY, payload: deflate(Buffer.alloc(LIMIT + 1)), rsv1: true }), 1009, 'HL_ERR_MESSAGE_TOO_BIG');
  });

  it('fails with 1009 on a ~1 KiB frame that inflates to 1 MiB', async () => {
    const payload = deflate(Buffer.alloc(MiB));
    assert.ok(payload.length <= 1.1 * KiB, `${payload.length} bytes`);
    await expectFailure(f, OFFER, clientFrame({ opcode: TEXT, payload, rsv1: true }), 1009, 'HL_ERR_MESSAGE_TOO_BIG');
  });

  it('fails with 1007 HL_ERR_INVALID_COMPRESSED_DATA on corrupt deflate data', async () => {
    // 0x07: BFINAL=1, BTYPE=11, a reserved block type (RFC 1951 §3.2.3).
    await expectFailure(f, OFFER, clientFrame({ opcode: BINARY, payload: Buffer.from([0x07, 0x12, 0x34]), rsv1: true }), 1007, 'HL_ERR_INVALID_COMPRESSED_DATA');
  });

  it('fails with 1007 HL_ERR_INVALID_COMPRESSED_DATA on a back-reference before the start of the stream', async () => {
    // The second "Hello" of RFC 7692 §7.2.3.2, sent first: it refers to data never sent.
    await expectFailure(f, OFFER, clientFrame({ opcode: TEXT, payload: Buffer.from([0xf2, 0x00, 0x11, 0x00, 0x00]), rsv1: true }), 1007, 'HL_ERR_INVALID_COMPRESSED_DATA');
  });

  it('fails with 1007 HL_ERR_INVALID_COMPRESSED_DATA when the client compresses with a larger window than agreed', async () => {
    // client_max_window_bits=12 was agreed; a repeat 20 KiB back needs a 2^15 window.
    // (zlib resolves a match from the output of the same inflate call whatever the
    // window, so the repeat must reach back across one of Node's 16 KiB output chunks.)
    const chunk = Buffer.from(noise(10 * KiB, 31).toString('hex'));
    const payload = deflate(Buffer.concat([chunk, chunk]), 15);
    assert.ok(payload.length < chunk.length, 'the repeat was compressed as a back-reference');
    await expectFailure(f, OFFER, clientFrame({ opcode: BINARY, payload, rsv1: true }), 1007, 'HL_ERR_INVALID_COMPRESSED_DATA');
  });

  it('fails with 1007 HL_ERR_INVALID_UTF8 on a compressed text message that inflates to invalid UTF-8', async () => {
    await expectFailure(f, OFFER, clientFrame({ opcode: TEXT, payload: deflate(Buffer.from([0x68, 0x69, 0xc3, 0x28])), rsv1: true }), 1007, 'HL_ERR_INVALID_UTF8');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 when the client did not offer permessage-deflate', async () => {
    await expectFailure(f, null, clientFrame({ opcode: TEXT, payload: deflate('hello'), rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 when the server declined the offer', async () => {
    // An unknown parameter makes the offer unacceptable (RFC 7692 §7): declined, not failed.
    await expectFailure(f, 'permessage-deflate; x_unknown', clientFrame({ opcode: TEXT, payload: deflate('hello'), rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 on a continuation frame', async () => {
    const payload = deflate(text(4 * KiB));
    const bytes = Buffer.concat([
      clientFrame({ opcode: TEXT, payload: payload.subarray(0, 10), rsv1: true, fin: false }),
      clientFrame({ opcode: CONTINUATION, payload: payload.subarray(10), rsv1: true }),
    ]);
    await expectFailure(f, OFFER, bytes, 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 on an uncompressed message’s continuation', async () => {
    const bytes = Buffer.concat([clientFrame({ opcode: TEXT, payload: 'a', fin: false }), clientFrame({ opcode: CONTINUATION, payload: deflate('b'), rsv1: true })]);
    await expectFailure(f, OFFER, bytes, 1002, 'HL_ERR_RESERVED_BITS');
  });

  for (const [name, opcode] of [['Ping', PING], ['Pong', PONG], ['Close', CLOSE]] as const) {
    it(`fails with 1002 HL_ERR_RESERVED_BITS on RSV1 on a ${name} frame`, async () => {
      const payload = opcode === CLOSE ? closePayload(1000) : Buffer.from('x');
      await expectFailure(f, OFFER, clientFrame({ opcode, payload, rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
    });
  }

  it('fails with 1002 on RSV1 on a Ping between the fragments of a compressed message', async () => {
    const payload = deflate(text(4 * KiB));
    const bytes = Buffer.concat([
      clientFrame({ opcode: TEXT, payload: payload.subarray(0, 10), rsv1: true, fin: false }),
      clientFrame({ opcode: PING, payload: 'p', rsv1: true }),
      clientFrame({ opcode: CONTINUATION, payload: payload.subarray(10) }),
    ]);
    await expectFailure(f, OFFER, bytes, 1002, 'HL_ERR_RESERVED_BITS');
  });
});

describe('permessage-deflate over real sockets: sending while compressed messages are still leaving', { timeout: 30_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ perMessageDeflate: true });
  });
  after(() => teardown(f));

  async function quietPeer(): Promise<{ raw: RawPeer; peer: Peer<any> }> {
    const { raw } = await openRaw(f.port, '/quiet', OFFER);
    return { raw, peer: await f.recorder.nextPeer() };
  }

  it('throws at once on an invalid close code while a compressed message is pending, not later from a zlib callback', async () => {
    const { raw, peer } = await quietPeer();
    peer.send(text(5 * KiB));
    assert.throws(() => peer.close(999, 'bad'), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => peer.close(1000, 'x'.repeat(124)), { code: 'HL_ERR_INVALID_ARGUMENT' });
    const [message] = (await readData(raw, 1)).data;
    assert.equal(message!.rsv1, true);
    peer.close(1000, 'fine');
    const close = await raw.readClose();
    assert.deepEqual([close.code, close.reason, close.before.length], [1000, 'fine', 0]);
    raw.destroy();
  });

  it('drops sends after close() while a compressed message is pending, and sends the Close last', async () => {
    const { raw, peer } = await quietPeer();
    assert.notEqual(peer.send(text(5 * KiB)), 'dropped');
    peer.close(1000, 'bye');
    assert.equal(peer.readyState, 2, 'CLOSING from the call on');
    assert.equal(peer.send(text(5 * KiB, 2)), 'dropped');
    assert.equal(peer.send('late'), 'dropped');
    peer.close(4000, 'second close is ignored');
    const close = await raw.readClose();
    assert.deepEqual([close.code, close.reason], [1000, 'bye']);
    assert.equal(close.before.length, 1, 'only the message sent before close()');
    assert.equal(close.before[0]!.rsv1, true);
    raw.destroy();
  });

  it('fires drain after a compressed send answered buffered, though the socket never backed up', async () => {
    const { raw, peer } = await quietPeer();
    const result = peer.send(text(5 * KiB));
    assert.notEqual(result, 'dropped');
    if (result === 'buffered') await f.recorder.wait('drain', peer, 2000);
    await readData(raw, 1);
    raw.destroy();
  });
});

// ---- A decompression bomb, with the server in its own process -------------------------------

/**
 * The server runs in a child process, so that its peak RSS (VmHWM) is the bomb's doing
 * alone. It reports its port, then every `error` hook, as JSON lines.
 */
const BOMB_SERVER = `
  const { Server } = await import(process.env.SERVER_MODULE);
  const server = new Server({ perMessageDeflate: true, maxPayload: Number(process.env.LIMIT) });
  server.route('*', {
    message(peer, data, isBinary) { peer.send(data, isBinary); },
    error(peer, error) { process.stdout.write(JSON.stringify({ error: error.code, closeCode: error.closeCode }) + '\\n'); },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  process.stdout.write(JSON.stringify({ port }) + '\\n');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
`;

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * KiB;
}

describe('permessage-deflate over real sockets: a decompression bomb', { timeout: 30_000, skip: process.platform !== 'linux' && 'reads peak RSS from /proc' }, () => {
  it('fails a ~1 MiB frame that inflates to 1 GiB with 1009 within a second, the server’s peak RSS growing by about the limit only', async () => {
    const LIMIT = 16 * MiB;
    // DEFLATE expands at most ~1032:1, so 1 GiB takes ~1 MiB: 64 sync-flushed runs of 16 MiB of zeros.
    const segment = zlib.deflateRawSync(Buffer.alloc(16 * MiB), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const bomb = Buffer.concat(new Array(64).fill(segment));
    assert.ok(bomb.length < 1.1 * MiB, `bomb is ${bomb.length} bytes`);
    const bombFrame = clientFrame({ opcode: BINARY, payload: bomb, rsv1: true });

    const child = spawn(process.execPath, ['--input-type=module', '-e', BOMB_SERVER], {
      env: { ...process.env, SERVER_MODULE: new URL('../../src/server/server.js', import.meta.url).href, LIMIT: String(LIMIT) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let wake: (() => void) | null = null;
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
      wake?.();
    });
    const line = async (match: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    };
    try {
      const { port } = (await line((l) => 'port' in l, 'the server to listen')) as { port: number };
      const good = await wsClient(`ws://127.0.0.1:${port}/good`, undefined, { perMessageDeflate: { threshold: 0 } });
      // Warm up: the thread pool and zlib's first streams are a one-time cost, not the bomb's.
      for (let i = 0; i < 3; i++) {
        const reply = wsMessage(good);
        good.send(text(256 * KiB, i));
        assert.equal((await reply).length, 256 * KiB);
      }
      const { raw } = await openRaw(port, '/bomb', OFFER);
      await delay(100);
      const before = peakRss(child.pid!);
      const t0 = performance.now();
      raw.write(bombFrame);
      const close = await raw.readClose(5000);
      const ms = performance.now() - t0;
      assert.equal(close.code, 1009);
      const reported = await line((l) => 'error' in l, 'the error hook');
      assert.deepEqual(reported, { error: 'HL_ERR_MESSAGE_TOO_BIG', closeCode: 1009 });
      await raw.waitEnd(2000);
      const growth = peakRss(child.pid!) - before;
      assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
      // The limit of inflated bytes, the 1 MiB frame (read, then gathered), and the
      // allocator's overhead on zlib's 16 KiB chunks; nowhere near the 1 GiB asked for.
      assert.ok(growth < LIMIT + 12 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      // The other connection never noticed.
      await assertEchoes(good);
      const reply = wsMessage(good);
      good.send(text(64 * KiB, 7));
      assert.equal((await reply).toString(), text(64 * KiB, 7));
      await closeWs(good);
    } finally {
      child.stdin!.end();
      await withTimeout(new Promise((resolve) => child.once('exit', resolve)), 3000, 'the server process to exit').catch(() => child.kill());
    }
  });
});

// ---- The client, against a raw server -------------------------------------------------------

/**
 * A server that completes one opening handshake by hand, answering `extensions` (or no
 * extension header when null), then hands over the socket to read and write frames.
 */
async function rawServer(extensions: string | null): Promise<{ port: number; accepted: Promise<{ raw: RawPeer; offer: string | undefined }>; close: () => Promise<void> }> {
  const accepted = deferred<{ raw: RawPeer; offer: string | undefined }>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const lines = head.slice(0, end).split('\r\n');
      const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(name + ':'))?.slice(name.length + 1).trim();
      const key = header('sec-websocket-key')!;
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')}\r\n` +
          (extensions === null ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
          '\r\n',
      );
      accepted.resolve({ raw: new RawPeer(socket), offer: header('sec-websocket-extensions') });
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: accepted.promise,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A server frame (unmasked). */
const serverFrame = (spec: Parameters<typeof frame>[0]) => frame({ mask: null, ...spec });

async function connectClient(extensions: string | null, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  const server = await rawServer(extensions);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, [], { perMessageDeflate: true, ...options });
  ws.binaryType = 'nodebuffer';
  const { raw, offer } = await withTimeout(server.accepted, 2000, 'the client’s handshake');
  await nextEvent(ws, 'open');
  return { ws, raw, offer, server };
}

/** The client fails: a Close frame with `closeCode` to the server, then `error` and a 1006 `close` to the page. */
async function expectClientFailure(extensions: string | null, bytes: Buffer, closeCode: number, errorCode: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<void> {
  const { ws, raw, server } = await connectClient(extensions, options);
  const messages: unknown[] = [];
  ws.onmessage = (event) => messages.push(event.data);
  let error: { code?: string } | undefined;
  ws.onerror = (event) => (error = (event as unknown as { error: { code?: string } }).error);
  const closed = nextEvent<{ code: number; wasClean: boolean }>(ws, 'close', 3000);
  raw.write(bytes);
  const close = await raw.readClose(3000);
  assert.equal(close.code, closeCode, `close code (reason: ${close.reason})`);
  // The server side of this test never answers the Close: the client drops TCP after its timeout or at once.
  raw.destroy();
  const event = await closed;
  assert.equal(event.wasClean, false);
  assert.equal(error?.code, errorCode);
  assert.equal(messages.length, 0);
  await server.close();
}

describe('permessage-deflate over real sockets: the client', { timeout: 30_000 }, () => {
  const ANSWER = 'permessage-deflate; server_max_window_bits=15; client_max_window_bits=12';

  it('offers permessage-deflate and sends masked frames with RSV1 from the threshold up, none under it', async () => {
    const { ws, raw, offer, server } = await connectClient(ANSWER);
    // Value-less by default, as browsers and ws offer it (RFC 7692 §7.1.2.2).
    assert.equal(offer, 'permessage-deflate; client_max_window_bits');
    assert.equal(ws.extensions, ANSWER);
    const big = text(16 * KiB, 3);
    ws.send(big);
    ws.send('small');
    ws.send(Buffer.from(text(2 * KiB, 4)));
    const { data } = await readData(raw, 3);
    assert.deepEqual(data.map((d) => [d.opcode, d.rsv1, d.fin, d.masked]), [[TEXT, true, true, true], [TEXT, false, true, true], [BINARY, true, true, true]]);
    const stream = new Stream(true);
    assert.equal((await stream.message(data[0]!.payload)).toString(), big);
    assert.equal(data[1]!.payload.toString(), 'small');
    assert.equal((await stream.message(data[2]!.payload)).toString(), text(2 * KiB, 4));
    stream.close();
    ws.terminate();
    await server.close();
  });

  // Regression: the default offer was client_max_window_bits=12, which servers in the wild
  // (Autobahn's among them) answer with 15, and the connection failed.
  it('accepts a server that answers client_max_window_bits=15 to its default offer, and compresses within 2^15', async () => {
    const answer = 'permessage-deflate; client_max_window_bits=15';
    const { ws, raw, offer, server } = await connectClient(answer);
    assert.equal(offer, 'permessage-deflate; client_max_window_bits');
    assert.equal(ws.extensions, answer);
    const big = text(40 * KiB, 8);
    ws.send(big);
    const { data } = await readData(raw, 1);
    const stream = new Stream(true);
    assert.equal((await stream.message(data[0]!.payload)).toString(), big);
    stream.close();
    ws.terminate();
    await server.close();
  });

  it('keeps a numeric offer as an option, strictly checked: the error names the parameter and the values', async () => {
    const server = await rawServer('permessage-deflate; client_max_window_bits=15');
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, [], { perMessageDeflate: { clientMaxWindowBits: 12 } });
    const { offer } = await withTimeout(server.accepted, 2000, 'the client’s handshake');
    assert.equal(offer, 'permessage-deflate; client_max_window_bits=12');
    const event = await nextEvent<{ error: { code?: string; message?: string } }>(ws, 'error', 3000);
    assert.equal(event.error.code, 'HL_ERR_HANDSHAKE_EXTENSIONS');
    assert.match(event.error.message ?? '', /server answered client_max_window_bits=15 to an offer of 12 \(RFC 7692 §7\.1\.2\.2\)/);
    await server.close();
  });

  it('inflates the server’s messages with context takeover, fragmented or whole, in order with uncompressed ones', async () => {
    const { ws, raw, server } = await connectClient(ANSWER);
    const got: string[] = [];
    ws.onmessage = (event) => got.push(String(event.data));
    const stream = new Stream(false, 15);
    const first = noise(5 * KiB, 8).toString('hex');
    const a = await stream.message(first);
    const b = await stream.message(first); // refers back into the first
    raw.write(
      Buffer.concat([
        serverFrame({ opcode: TEXT, payload: a, rsv1: true }),
        serverFrame({ opcode: TEXT, payload: 'plain' }),
        serverFrame({ opcode: TEXT, payload: b.subarray(0, 2), rsv1: true, fin: false }),
        serverFrame({ opcode: PING, payload: 'x' }),
        serverFrame({ opcode: CONTINUATION, payload: b.subarray(2) }),
      ]),
    );
    stream.close();
    await eventually(() => got.length === 3, 3000, 'three messages');
    assert.deepEqual(got, [first, 'plain', first]);
    assert.ok(b.length < a.length / 10, `the second copy (${b.length} B) refers back to the first (${a.length} B)`);
    const pong = await raw.readFrame();
    assert.deepEqual([pong.opcode, pong.payload.toString()], [PONG, 'x']);
    ws.terminate();
    await server.close();
  });

  it('fails with 1009 HL_ERR_MESSAGE_TOO_BIG when a message inflates past its maxPayload', async () => {
    const payload = deflate(Buffer.alloc(MiB));
    await expectClientFailure(ANSWER, serverFrame({ opcode: BINARY, payload, rsv1: true }), 1009, 'HL_ERR_MESSAGE_TOO_BIG', { maxPayload: 64 * KiB });
  });

  it('fails with 1007 HL_ERR_INVALID_COMPRESSED_DATA on corrupt data', async () => {
    await expectClientFailure(ANSWER, serverFrame({ opcode: BINARY, payload: Buffer.from([0x07, 0xff]), rsv1: true }), 1007, 'HL_ERR_INVALID_COMPRESSED_DATA');
  });

  it('fails with 1007 HL_ERR_INVALID_UTF8 on compressed text that inflates to invalid UTF-8', async () => {
    await expectClientFailure(ANSWER, serverFrame({ opcode: TEXT, payload: deflate(Buffer.from([0xed, 0xa0, 0x80])), rsv1: true }), 1007, 'HL_ERR_INVALID_UTF8');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 from a server that declined permessage-deflate', async () => {
    await expectClientFailure(null, serverFrame({ opcode: TEXT, payload: deflate('hi'), rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS on RSV1 on a continuation or a control frame', async () => {
    const continuation = Buffer.concat([serverFrame({ opcode: TEXT, payload: deflate('hello'), rsv1: true, fin: false }), serverFrame({ opcode: CONTINUATION, payload: Buffer.from([0x00]), rsv1: true })]);
    await expectClientFailure(ANSWER, continuation, 1002, 'HL_ERR_RESERVED_BITS');
    await expectClientFailure(ANSWER, serverFrame({ opcode: PING, payload: 'p', rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });
});
