/**
 * A publish compressed once (RFC 7692 §7.1.1.1), over real sockets with `ws` clients
 * decoding every message with their own zlib: subscribers that agreed
 * server_no_context_takeover share one compression per window size (counted by the
 * shared deflaters' counters), subscribers with context takeover keep compressing their
 * own copy, messages leave each connection in send order, and a subscriber closing, the
 * server closing, or every subscriber leaving, cancels the work without leaking a zlib
 * stream.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient, PerMessageDeflateOptions as WsDeflateOptions } from 'ws';

import type { Server } from '../../src/server/server.js';
import { DEFLATE_DEFAULTS, type PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import type { Peer, SendResult } from '../../src/types.js';
import { sharedDeflateCounters } from '../../src/websocket/shared-deflate.js';
import { type ZlibLimiter, zlibLimiter } from '../../src/websocket/zlib-limiter.js';
import type { PerMessageDeflate } from '../../src/websocket/permessage-deflate.js';
import { prng, randomBytes } from '../support/bytes.js';
import { Recorder, listening, wsClient } from '../support/server.js';
import { delay, eventually, withTimeout } from '../support/timing.js';

interface Received {
  data: Buffer;
  isBinary: boolean;
}

/** A `ws` subscriber of `topic` and what it has received, in order. */
interface Subscriber {
  ws: WsClient;
  peer: Peer<any>;
  received: Received[];
  closed: Promise<number>;
}

let servers: Server[] = [];
let clients: WsClient[] = [];
let heldSlot: (() => void) | null = null;

afterEach(async () => {
  heldSlot?.();
  heldSlot = null;
  for (const ws of clients) ws.terminate();
  clients = [];
  await Promise.all(servers.map((server) => server.close({ timeout: 100 })));
  servers = [];
});

async function start(options: PerMessageDeflateOptions): Promise<{ server: Server; url: string; recorder: Recorder }> {
  const recorder = new Recorder();
  // A concurrency of its own gives the server a limiter of its own, which the tests below
  // may hold without holding every other server's and client's.
  const perMessageDeflate = { concurrency: DEFLATE_DEFAULTS.concurrency, ...options };
  const { server, url } = await listening({ closeTimeout: 500, perMessageDeflate }, (s) => {
    s.route('*', recorder.handler({ open: (peer) => peer.subscribe('room') }));
  });
  servers.push(server);
  return { server, url, recorder };
}

async function subscribe(url: string, recorder: Recorder, deflate: WsDeflateOptions | false): Promise<Subscriber> {
  const ws = await wsClient(url, undefined, { perMessageDeflate: deflate });
  clients.push(ws);
  const peer = await recorder.nextPeer();
  const received: Received[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => received.push({ data, isBinary }));
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  return { ws, peer, received, closed };
}

/** Text that compresses well and refers back into itself. */
function text(random: () => number, size: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'café', '中文', 'ε'];
  let out = '';
  while (out.length < size) out += words[Math.floor(random() * words.length)] + ' ';
  return Buffer.from(out);
}

/** Binary that compresses: random bytes from a small alphabet. */
function binary(random: () => number, size: number): Buffer {
  const out = randomBytes(random, size);
  for (let i = 0; i < size; i++) out[i] = out[i]! & 0x0f;
  return out;
}

function assertReceived(subscriber: Subscriber, expected: Received[], who: string): void {
  assert.equal(subscriber.received.length, expected.length, `${who}: message count`);
  for (const [i, message] of expected.entries()) {
    const got = subscriber.received[i]!;
    assert.equal(got.isBinary, message.isBinary, `${who}: message ${i} type`);
    assert.ok(got.data.equals(message.data), `${who}: message ${i} bytes (${got.data.length} vs ${message.data.length})`);
  }
}

async function allReceived(subscribers: Subscriber[], count: number): Promise<void> {
  await eventually(() => subscribers.every((s) => s.received.length >= count), 5000, `${count} messages at every subscriber`);
}

/** The zlib limiter of the server `peer` belongs to (each server here has its own). */
function limiterOf(peer: Peer<any>): ZlibLimiter {
  return (peer as unknown as { shell: { negotiated: { codec: PerMessageDeflate } } }).shell.negotiated.codec.limiter;
}

/** Holds the only zlib slot of `peer`'s server until `release` is called: shared jobs wait in its limiter. */
function holdLimiter(peer: Peer<any>): () => void {
  const limiter = limiterOf(peer);
  assert.notEqual(limiter, zlibLimiter, 'the server has a limiter of its own');
  limiter.concurrency = 1;
  let release: (() => void) | null = null;
  limiter.run((done) => {
    release = done;
  });
  assert.ok(release !== null, 'the limiter slot was free');
  heldSlot = release;
  return release;
}

const NO_CONTEXT = { serverNoContextTakeover: true, threshold: 0 } as const;

describe('a publish compressed once (RFC 7692 §7.1.1.1)', () => {
  it('compresses each publication once per window size for subscribers without context takeover', async () => {
    const { server, url, recorder } = await start({ serverMaxWindowBits: 15, threshold: 64 });
    const windows = [8, 8, 8, 11, 11, 15, 15];
    const subscribers: Subscriber[] = [];
    for (const bits of windows) subscribers.push(await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: bits }));
    for (const s of subscribers) assert.match((s.peer as unknown as { extensions: string }).extensions, /server_no_context_takeover/);
    const random = prng(7);
    const messages: Received[] = [
      { data: text(random, 16 * 1024), isBinary: false },
      { data: binary(random, 8 * 1024), isBinary: true },
      // Below the threshold: sent as they are, shared plain frames.
      { data: Buffer.from('small'), isBinary: false },
      { data: Buffer.alloc(0), isBinary: true },
      { data: text(random, 100_000), isBinary: false },
    ];
    const before = sharedDeflateCounters.compressions;
    for (const m of messages) assert.equal(server.publish('room', m.data, m.isBinary), windows.length);
    await allReceived(subscribers, messages.length);
    // 3 compressible publications × 3 window sizes, whatever the number of subscribers.
    assert.equal(sharedDeflateCounters.compressions - before, 3 * 3);
    for (const [i, s] of subscribers.entries()) assertReceived(s, messages, `subscriber ${i} (window ${windows[i]})`);
    // Compressed on the wire: far fewer bytes than the ~124 KiB published.
    const socket = (subscribers[0]!.ws as unknown as { _socket: { bytesRead: number } })._socket;
    assert.ok(socket.bytesRead < 60_000, `read ${socket.bytesRead} bytes`);
    assert.equal(sharedDeflateCounters.streams, 0, 'the idle deflaters hold no zlib stream');
  });

  it('shares empty and tiny messages too when the threshold is 0 (§7.2.3.6)', async () => {
    const { server, url, recorder } = await start({ serverMaxWindowBits: 15, threshold: 0 });
    const subscribers = [
      await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 9 }),
      await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 9 }),
      await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 13 }),
    ];
    const messages: Received[] = [
      { data: Buffer.alloc(0), isBinary: false },
      { data: Buffer.alloc(0), isBinary: true },
      { data: Buffer.from('x'), isBinary: false },
      { data: Buffer.from([0, 0, 0xff, 0xff]), isBinary: true },
    ];
    const before = sharedDeflateCounters.compressions;
    for (const m of messages) server.publish('room', m.data, m.isBinary);
    await allReceived(subscribers, messages.length);
    assert.equal(sharedDeflateCounters.compressions - before, messages.length * 2);
    for (const [i, s] of subscribers.entries()) assertReceived(s, messages, `subscriber ${i}`);
  });

  it('gives mixed subscribers the right data: context takeover, none, other windows, no deflate', async () => {
    const { server, url, recorder } = await start({ serverMaxWindowBits: 15, clientMaxWindowBits: 15, threshold: 32 });
    const kinds: Array<[string, WsDeflateOptions | false]> = [
      ['takeover 15', { serverMaxWindowBits: 15, threshold: 0 }],
      ['takeover 10', { serverMaxWindowBits: 10, threshold: 0 }],
      ['no takeover 9', { ...NO_CONTEXT, serverMaxWindowBits: 9 }],
      ['no takeover 9 bis', { ...NO_CONTEXT, serverMaxWindowBits: 9 }],
      ['no takeover 12', { ...NO_CONTEXT, serverMaxWindowBits: 12 }],
      ['no deflate', false],
    ];
    const subscribers: Subscriber[] = [];
    for (const [, deflate] of kinds) subscribers.push(await subscribe(url, recorder, deflate));
    const random = prng(11);
    const messages: Received[] = [];
    const repeated = text(random, 3000);
    for (let i = 0; i < 20; i++) {
      // Repeats across messages: a stream with context takeover refers back into earlier
      // ones, and a shared one must not.
      const data = i % 3 === 0 ? repeated : i % 3 === 1 ? binary(random, 500 + i * 100) : Buffer.from(`short ${i}`);
      messages.push({ data, isBinary: i % 3 === 1 });
    }
    const before = sharedDeflateCounters.compressions;
    for (const m of messages) server.publish('room', m.data, m.isBinary);
    await allReceived(subscribers, messages.length);
    const compressible = messages.filter((m) => m.data.length >= 32).length;
    // Two window sizes among the subscribers without context takeover.
    assert.equal(sharedDeflateCounters.compressions - before, compressible * 2);
    for (const [i, s] of subscribers.entries()) assertReceived(s, messages, kinds[i]![0]);
  });

  it("keeps a connection's order through its own and shared compressions, with backpressure results", async () => {
    const { server, url, recorder } = await start({ serverMaxWindowBits: 15, threshold: 64 });
    const subscriber = await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 15 });
    const { peer } = subscriber;
    const random = prng(3);
    // A: a large message of the peer's own, still compressing when the small shared B is
    // done: B must wait for it.
    const a = text(random, 2 * 1024 * 1024);
    const b = text(random, 2000);
    const c = Buffer.from('plain, sent after');
    const d = binary(random, 300_000);
    const e = Buffer.from('shared plain');
    const f = binary(random, 5000);
    const results: SendResult[] = [];
    results.push(peer.send(a, false));
    server.publish('room', b, false);
    results.push(peer.send(c, false));
    results.push(peer.send(d, true));
    server.publish('room', e, false);
    server.publish('room', f, true);
    assert.ok(peer.bufferedAmount >= a.length + b.length + c.length, `bufferedAmount ${peer.bufferedAmount}`);
    assert.deepEqual(results, ['buffered', 'buffered', 'buffered']);
    await allReceived([subscriber], 6);
    assertReceived(
      subscriber,
      [
        { data: a, isBinary: false },
        { data: b, isBinary: false },
        { data: c, isBinary: false },
        { data: d, isBinary: true },
        { data: e, isBinary: false },
        { data: f, isBinary: true },
      ],
      'subscriber',
    );
    await recorder.wait('drain', peer, 5000);
    assert.equal(peer.bufferedAmount, 0);
  });

  it('a publish waiting for compression holds its place against maxBufferedAmount', async () => {
    const recorder = new Recorder();
    const { server, url } = await listening(
      { maxBufferedAmount: 20_000, perMessageDeflate: { threshold: 0, concurrency: DEFLATE_DEFAULTS.concurrency } },
      (s) => s.route('*', recorder.handler({ open: (peer) => peer.subscribe('room') })),
    );
    servers.push(server);
    const subscriber = await subscribe(url, recorder, { ...NO_CONTEXT });
    const release = holdLimiter(subscriber.peer);
    const results: SendResult[] = [];
    const big = Buffer.alloc(8000, 'a');
    results.push(subscriber.peer.send(big, false));
    // Delivered through the topic: the shared send answers like a compressed send.
    server.publish('room', big, false);
    assert.equal(subscriber.peer.bufferedAmount, 16_000);
    results.push(subscriber.peer.send(big, false));
    assert.equal(subscriber.peer.bufferedAmount, 16_000);
    assert.deepEqual(results, ['buffered', 'dropped']);
    release();
    await allReceived([subscriber], 2);
    assertReceived(subscriber, [{ data: big, isBinary: false }, { data: big, isBinary: false }], 'subscriber');
  });

  it('a subscriber closing while the shared compression waits leaves the others served', async () => {
    const { server, url, recorder } = await start({ threshold: 0 });
    const leaving = await subscribe(url, recorder, { ...NO_CONTEXT });
    const staying = await subscribe(url, recorder, { ...NO_CONTEXT });
    const release = holdLimiter(staying.peer);
    const before = sharedDeflateCounters.compressions;
    const message = text(prng(5), 4000);
    server.publish('room', message, false);
    leaving.peer.terminate();
    await recorder.wait('close', leaving.peer);
    release();
    await allReceived([staying], 1);
    assertReceived(staying, [{ data: message, isBinary: false }], 'staying');
    assert.equal(leaving.received.length, 0);
    assert.equal(sharedDeflateCounters.compressions - before, 1);
    await eventually(() => sharedDeflateCounters.streams === 0, 2000, 'the stream to be freed');
  });

  it('skips the compression when every subscriber has closed before it ran', async () => {
    const { server, url, recorder } = await start({ threshold: 0 });
    const subscribers = [await subscribe(url, recorder, { ...NO_CONTEXT }), await subscribe(url, recorder, { ...NO_CONTEXT })];
    const limiter = limiterOf(subscribers[0]!.peer);
    const release = holdLimiter(subscribers[0]!.peer);
    const before = sharedDeflateCounters.compressions;
    server.publish('room', text(prng(6), 4000), false);
    server.publish('room', text(prng(7), 4000), false);
    for (const s of subscribers) s.peer.terminate();
    for (const s of subscribers) await recorder.wait('close', s.peer);
    release();
    await delay(50);
    assert.equal(sharedDeflateCounters.compressions - before, 0);
    assert.equal(limiter.running, 0, 'no slot kept');
    assert.equal(sharedDeflateCounters.streams, 0);
  });

  it('a subscriber closing while the compression runs frees the stream', async () => {
    const { server, url, recorder } = await start({ threshold: 0 });
    const subscriber = await subscribe(url, recorder, { ...NO_CONTEXT });
    const limiter = limiterOf(subscriber.peer);
    // Large enough that zlib is still at it when the socket is gone.
    server.publish('room', binary(prng(8), 4 * 1024 * 1024), true);
    assert.equal(sharedDeflateCounters.streams, 1, 'the compression has started');
    subscriber.peer.terminate();
    await recorder.wait('close', subscriber.peer);
    await eventually(() => sharedDeflateCounters.streams === 0 && limiter.running === 0, 2000, 'the stream and slot to be freed');
  });

  it('server.close during a publish sends it before the 1001', async () => {
    const { server, url, recorder } = await start({ threshold: 0 });
    const subscribers = [
      await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 10 }),
      await subscribe(url, recorder, { ...NO_CONTEXT, serverMaxWindowBits: 10 }),
      await subscribe(url, recorder, { serverMaxWindowBits: 10 }),
    ];
    const release = holdLimiter(subscribers[0]!.peer);
    const message = text(prng(9), 5000);
    server.publish('room', message, false);
    const closing = server.close({ timeout: 2000 });
    await delay(20);
    release();
    await withTimeout(closing, 3000, 'server.close');
    for (const [i, s] of subscribers.entries()) {
      assert.equal(await s.closed, 1001);
      assertReceived(s, [{ data: message, isBinary: false }], `subscriber ${i}`);
    }
    assert.equal(sharedDeflateCounters.streams, 0);
  });

  it('server.close that drops peers before the compression runs skips it', async () => {
    const { server, url, recorder } = await start({ threshold: 0 });
    const subscribers = [await subscribe(url, recorder, { ...NO_CONTEXT }), await subscribe(url, recorder, { ...NO_CONTEXT })];
    const limiter = limiterOf(subscribers[0]!.peer);
    const release = holdLimiter(subscribers[0]!.peer);
    const before = sharedDeflateCounters.compressions;
    server.publish('room', text(prng(10), 5000), false);
    await withTimeout(server.close({ timeout: 50 }), 3000, 'server.close');
    // The peers' sockets report their close after server.close has resolved.
    for (const s of subscribers) await recorder.wait('close', s.peer);
    release();
    await delay(50);
    assert.equal(sharedDeflateCounters.compressions - before, 0);
    assert.equal(sharedDeflateCounters.streams, 0);
    assert.equal(limiter.running, 0);
    for (const s of subscribers) assert.equal(s.received.length, 0);
  });
});

