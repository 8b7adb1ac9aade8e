import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Driver, DriverOwner } from '../../src/browser/driver.js';
import type { ClientIo, RequestLike, ResponseLike, TimerHandle, WebSocketConstructor, WebSocketLike } from '../../src/browser/io.js';
import { type ClientOptions, resolveClientOptions } from '../../src/browser/options.js';
import { createDriver } from '../../src/browser/transports.js';
import { type Handshake, type Packet, decodeBatch, encodeBatch, sseOpenEvent, ssePacketEvent } from '../../src/protocol/session/wire.js';

/**
 * The transport drivers over injected I/O: a scripted fetch, a fake WebSocket class and
 * timers on a fake clock. No server, no sockets, no wall-clock waits.
 */

const enc = new TextEncoder();

const HANDSHAKE: Handshake = {
  sid: 'S1',
  transport: 'long-polling',
  hold: 25_000,
  interval: 1000,
  heartbeat: 10_000,
  sessionTimeout: 30_000,
  maxBody: 1_000_000,
  ackDelay: 300,
  maxPackets: 100,
};

/** Timers on a clock that moves only when told. */
class FakeTimers {
  now = 0;
  private next = 1;
  private readonly due = new Map<number, { at: number; callback: () => void }>();
  setTimeout = (callback: () => void, ms: number): TimerHandle => {
    const id = this.next++;
    this.due.set(id, { at: this.now + ms, callback });
    return id as unknown as TimerHandle;
  };
  clearTimeout = (handle: TimerHandle): void => {
    this.due.delete(handle as unknown as number);
  };
  get pending(): number {
    return this.due.size;
  }
  /** Moves the clock, running each timer as its time comes (and what they schedule). */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      let first: [number, { at: number; callback: () => void }] | null = null;
      for (const entry of this.due) if (entry[1].at <= end && (first === null || entry[1].at < first[1].at)) first = entry;
      if (first === null) break;
      this.due.delete(first[0]);
      this.now = first[1].at;
      first[1].callback();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/** Lets promise chains run (fetch answers, loops resuming). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Call {
  url: URL;
  init: RequestLike;
  answer(status: number, body: Uint8Array | string): void;
  stream(): ReadableStreamDefaultController<Uint8Array>;
}

/** A fetch whose requests wait in `calls` until the test answers them. */
function scriptedFetch(): { fetch: ClientIo['fetch']; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (url: string, init: RequestLike): Promise<ResponseLike> =>
    new Promise((resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      const respond = (status: number, body: ReadableStream<Uint8Array> | null, whole: Uint8Array) =>
        resolve({
          ok: status >= 200 && status < 300,
          status,
          body,
          arrayBuffer: async () => whole.slice().buffer,
          json: async () => JSON.parse(new TextDecoder().decode(whole)),
        });
      calls.push({
        url: new URL(url),
        init,
        answer: (status, body) => {
          const bytes = typeof body === 'string' ? enc.encode(body) : body;
          respond(status, null, bytes);
        },
        stream: () => {
          let controller!: ReadableStreamDefaultController<Uint8Array>;
          const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
          // As fetch does: an abort errors the body being read.
          init.signal?.addEventListener('abort', () => controller.error(new Error('aborted')));
          respond(200, body, new Uint8Array(0));
          return controller;
        },
      });
    });
  return { fetch, calls };
}

type Report = [string, ...unknown[]];

/** A driver's owner that records every callback. */
function owner(options: ClientOptions, io: Partial<ClientIo>, timers: FakeTimers): DriverOwner & { reports: Report[]; messages: unknown[] } {
  const reports: Report[] = [];
  const messages: unknown[] = [];
  return {
    url: 'http://example.test/route?room=1',
    options: resolveClientOptions(options),
    io: {
      fetch: () => Promise.reject(new Error('no fetch')),
      WebSocket: undefined,
      webSocketOptions: undefined,
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
      now: () => timers.now,
      random: () => 0.5,
      ...io,
    },
    reports,
    messages,
    driverOpened: (d: Driver) => reports.push(['opened', d.sid]),
    driverMessage: (_d: Driver, data: unknown) => messages.push(data),
    driverFailed: (_d: Driver, error: Error) => reports.push(['failed', error.message]),
    driverClosed: (_d: Driver, code: number, reason: string, wasClean: boolean) => reports.push(['closed', code, reason, wasClean]),
    driverUpgraded: () => reports.push(['upgraded']),
    driverReconnecting: (_d: Driver, attempt: number, delay: number) => reports.push(['reconnecting', attempt, delay]),
    driverResumed: () => reports.push(['resumed']),
    driverError: (_d: Driver, error: Error) => reports.push(['error', error.message]),
  };
}

const openAnswer = (transport: string, ...packets: Packet[]) => encodeBatch(1, [{ kind: 'o', handshake: { ...HANDSHAKE, transport } }, ...packets]);
const text = (s: string): Packet => ({ kind: 't', data: enc.encode(s) });
const query = (call: Call) => Object.fromEntries(call.url.searchParams);

describe('the long-polling driver over a scripted fetch', () => {
  it('opens, polls again at once naming its ack, and posts messages with the ack', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ transports: ['long-polling'] }, { fetch }, timers);
    const driver = createDriver(o, 'long-polling');
    driver.start();
    await settle();
    assert.deepEqual(query(calls[0]!), { room: '1', transport: 'long-polling' });
    calls[0]!.answer(200, openAnswer('long-polling', text('a')));
    await settle();
    assert.deepEqual(o.reports, [['opened', 'S1']]);
    assert.deepEqual(o.messages, ['a']);
    assert.deepEqual(query(calls[1]!), { room: '1', transport: 'long-polling', sid: 'S1', ack: '1' });
    assert.equal(calls[1]!.init.method, 'GET');

    driver.send({ kind: 't', bytes: enc.encode('up'), raw: 'up' });
    driver.send({ kind: 't', bytes: enc.encode('up2'), raw: 'up2' });
    await settle();
    const post = calls[2]!;
    assert.equal(post.init.method, 'POST');
    assert.equal(query(post).ack, '1');
    assert.equal(new TextDecoder().decode(post.init.body), '1;t2:up');
    assert.equal(driver.bufferedAmount, 5);
    post.answer(204, '');
    await settle();
    // The second message was queued while the first POST was in flight: it goes next.
    assert.equal(new TextDecoder().decode(calls[3]!.init.body), '2;t3:up2');
    calls[3]!.answer(204, '');
    await settle();
    assert.equal(driver.bufferedAmount, 0);

    // The held poll answers with a resend and a new message: only the new one is delivered.
    calls[1]!.answer(200, encodeBatch(1, [text('a'), text('b')]));
    await settle();
    assert.deepEqual(o.messages, ['a', 'b']);
    assert.equal(query(calls[4]!).ack, '2');
    driver.stop();
  });

  it("acknowledges the server's close packet and reports a clean close", async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({}, { fetch }, timers);
    const driver = createDriver(o, 'long-polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('long-polling'));
    await settle();
    calls[1]!.answer(200, encodeBatch(1, [{ kind: 'c', code: 4001, reason: 'bye' }]));
    await settle();
    assert.deepEqual(o.reports.at(-1), ['closed', 4001, 'bye', true]);
    const ack = calls[2]!;
    assert.equal(ack.init.method, 'POST');
    assert.equal(query(ack).ack, '1');
    assert.equal(new TextDecoder().decode(ack.init.body), '1;');
    driver.stop();
  });

  it('retries a failed poll after a backoff on the clock, then reports the resumption', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ reconnect: { minDelay: 100, jitter: 0 } }, { fetch }, timers);
    const driver = createDriver(o, 'long-polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('long-polling'));
    await settle();
    calls[1]!.answer(503, '{"code":"HL_ERR_BUSY"}');
    await settle();
    assert.deepEqual(o.reports.at(-1), ['reconnecting', 1, 100]);
    assert.equal(calls.length, 2, 'no retry before the backoff');
    await timers.advance(100);
    assert.equal(calls.length, 3);
    calls[2]!.answer(200, encodeBatch(1, []));
    await settle();
    assert.deepEqual(o.reports.at(-1), ['resumed']);
    driver.stop();
  });

  it('ends a session the server no longer knows', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({}, { fetch }, timers);
    const driver = createDriver(o, 'polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('polling'));
    await settle();
    calls[1]!.answer(404, '{"code":"HL_ERR_UNKNOWN_SESSION","message":"unknown session"}');
    await settle();
    assert.deepEqual(o.reports.at(-1), ['closed', 1006, 'session lost', false]);
    driver.stop();
  });

  it('fails to open when the handshake does not answer within openTimeout', async () => {
    const timers = new FakeTimers();
    const { fetch } = scriptedFetch();
    const o = owner({ openTimeout: 2000 }, { fetch }, timers);
    const driver = createDriver(o, 'long-polling');
    driver.start();
    await settle();
    await timers.advance(1999);
    assert.deepEqual(o.reports, []);
    await timers.advance(1);
    assert.deepEqual(o.reports, [['failed', 'aborted']]);
    driver.stop();
  });
});

describe('the interval-polling driver on a fake clock', () => {
  it('polls on every tick whether answered or not, up to maxOverlap', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ maxOverlap: 2 }, { fetch }, timers);
    const driver = createDriver(o, 'interval-polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('interval-polling'));
    await settle();
    assert.equal(calls.length, 2, 'the first tick polls at once');
    await timers.advance(1000);
    assert.equal(calls.length, 3, 'the second tick polls though the first is unanswered');
    await timers.advance(1000);
    assert.equal(calls.length, 3, 'two in flight: the tick is skipped');
    calls[1]!.answer(200, encodeBatch(1, [text('x')]));
    await settle();
    await timers.advance(1000);
    assert.equal(calls.length, 4);
    assert.equal(query(calls[3]!).ack, '1');
    assert.deepEqual(o.messages, ['x']);
    driver.stop();
    assert.equal(timers.pending, 0, 'stop clears every timer');
  });

  it('waits the interval after each answer in short polling', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ interval: 250 }, { fetch }, timers);
    const driver = createDriver(o, 'polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('polling'));
    await settle();
    calls[1]!.answer(200, encodeBatch(1, []));
    await settle();
    await timers.advance(249);
    assert.equal(calls.length, 2);
    await timers.advance(1);
    assert.equal(calls.length, 3);
    driver.stop();
  });
});

describe('the SSE driver over a streaming fetch', () => {
  it('opens on the session event, delivers events in order once, and acknowledges after ackDelay', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({}, { fetch }, timers);
    const driver = createDriver(o, 'sse');
    driver.start();
    await settle();
    assert.equal(calls[0]!.init.headers.Accept, 'text/event-stream');
    const stream = calls[0]!.stream();
    const event = sseOpenEvent({ ...HANDSHAKE, transport: 'sse' }, 1000) + ssePacketEvent(1, { kind: 't', data: enc.encode('a') });
    stream.enqueue(enc.encode(event.slice(0, 40)));
    stream.enqueue(enc.encode(event.slice(40) + ssePacketEvent(1, { kind: 't', data: enc.encode('a') }) + ssePacketEvent(2, { kind: 'b', data: new Uint8Array([7]) })));
    await settle();
    assert.deepEqual(o.reports, [['opened', 'S1']]);
    assert.equal(o.messages[0], 'a');
    assert.deepEqual([...new Uint8Array(o.messages[1] as ArrayBuffer)], [7]);
    assert.equal(o.messages.length, 2);
    assert.equal(calls.length, 1);
    await timers.advance(300);
    const ack = calls[1]!;
    assert.equal(ack.init.method, 'POST');
    assert.equal(query(ack).ack, '2');
    assert.equal(new TextDecoder().decode(ack.init.body), '1;');
    driver.stop();
  });

  it('cuts a stream silent for two heartbeats and a grace, however its chunks were spread', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ reconnect: { minDelay: 100, jitter: 0 } }, { fetch }, timers);
    const driver = createDriver(o, 'sse');
    driver.start();
    await settle();
    const stream = calls[0]!.stream();
    stream.enqueue(enc.encode(sseOpenEvent({ ...HANDSHAKE, transport: 'sse' }, 1000)));
    await settle();
    // Heartbeat 10 s: dead after 25 s of silence. A heartbeat at 20 s keeps it alive.
    await timers.advance(20_000);
    stream.enqueue(enc.encode(':\n\n'));
    await settle();
    await timers.advance(24_999);
    assert.equal(o.reports.length, 1, 'alive');
    await timers.advance(1);
    assert.deepEqual(o.reports.at(-1), ['reconnecting', 1, 100]);
    driver.stop();
  });

  it('resumes a cut stream with a request naming the ack', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const o = owner({ reconnect: { minDelay: 100, jitter: 0 } }, { fetch }, timers);
    const driver = createDriver(o, 'sse');
    driver.start();
    await settle();
    const stream = calls[0]!.stream();
    stream.enqueue(enc.encode(sseOpenEvent({ ...HANDSHAKE, transport: 'sse' }, 1000) + ssePacketEvent(1, { kind: 't', data: enc.encode('a') })));
    await settle();
    stream.close();
    await settle();
    assert.deepEqual(o.reports.at(-1), ['reconnecting', 1, 100]);
    await timers.advance(100);
    const resumed = calls.find((c) => c.init.method === 'GET' && c !== calls[0])!;
    assert.deepEqual(query(resumed), { room: '1', transport: 'sse', sid: 'S1', ack: '1' });
    driver.stop();
  });
});

/** A WebSocket class whose instances the test drives. */
function fakeWebSocket(): { Ctor: WebSocketConstructor; made: Array<WebSocketLike & { url: string; sent: unknown[] }> } {
  const made: Array<WebSocketLike & { url: string; sent: unknown[] }> = [];
  class Fake {
    binaryType = 'blob';
    readyState = 0;
    bufferedAmount = 0;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: unknown) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    sent: unknown[] = [];
    constructor(readonly url: string) {
      made.push(this);
    }
    send(data: unknown): void {
      this.sent.push(data);
    }
    close(code = 1005, reason = ''): void {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: true });
    }
  }
  return { Ctor: Fake as unknown as WebSocketConstructor, made };
}

describe('the WebSocket driver over a fake WebSocket class', () => {
  it('connects to the route as ws:, takes binary as ArrayBuffer, and fails over after openTimeout', async () => {
    const timers = new FakeTimers();
    const { Ctor, made } = fakeWebSocket();
    const o = owner({ openTimeout: 500 }, { WebSocket: Ctor }, timers);
    const driver = createDriver(o, 'websocket');
    driver.start();
    assert.equal(made[0]!.url, 'ws://example.test/route?room=1&transport=websocket');
    assert.equal(made[0]!.binaryType, 'arraybuffer');
    await timers.advance(500);
    assert.deepEqual(o.reports, [['failed', 'WebSocket did not open in time']]);
    driver.stop();
  });

  it('reports the code it asked for when the server echoes a close without one (1005)', async () => {
    const timers = new FakeTimers();
    const { Ctor, made } = fakeWebSocket();
    const o = owner({}, { WebSocket: Ctor }, timers);
    const driver = createDriver(o, 'websocket');
    driver.start();
    const ws = made[0]!;
    (ws as { readyState: number }).readyState = 1;
    ws.onopen!({});
    ws.onmessage!({ data: 'hi' });
    driver.send({ kind: 't', bytes: enc.encode('up'), raw: 'up' });
    assert.deepEqual(ws.sent, ['up']);
    ws.onclose = ((onclose) => () => onclose!({ code: 1005, reason: '', wasClean: true }))(ws.onclose);
    driver.close(4000, 'done');
    assert.deepEqual(o.reports, [['opened', ''], ['closed', 4000, '', true]]);
    assert.deepEqual(o.messages, ['hi']);
  });

  it('fails at once when the environment has no WebSocket', async () => {
    const timers = new FakeTimers();
    const o = owner({}, {}, timers);
    createDriver(o, 'websocket').start();
    await settle();
    assert.match(String(o.reports[0]?.[1]), /no WebSocket class/);
  });
});

describe('the session upgrade over a fake WebSocket', () => {
  it('probes, pauses the polls, then sends upgrade N and resends what the server lacks', async () => {
    const timers = new FakeTimers();
    const { fetch, calls } = scriptedFetch();
    const { Ctor, made } = fakeWebSocket();
    const o = owner({ upgrade: true }, { fetch, WebSocket: Ctor }, timers);
    const driver = createDriver(o, 'long-polling');
    driver.start();
    await settle();
    calls[0]!.answer(200, openAnswer('long-polling', text('a')));
    await settle();
    const ws = made[0]!;
    assert.equal(ws.url, 'ws://example.test/route?room=1&transport=websocket&sid=S1');
    (ws as { readyState: number }).readyState = 1;
    ws.onopen!({});
    assert.deepEqual(ws.sent, ['probe']);
    driver.send({ kind: 't', bytes: enc.encode('m1'), raw: 'm1' });
    await settle();
    // The POST of m1 is in flight when the probe comes back: the upgrade waits for it.
    ws.onmessage!({ data: 'probe' });
    await settle();
    assert.deepEqual(ws.sent, ['probe']);
    const post = calls.find((c) => c.init.method === 'POST')!;
    post.answer(204, '');
    await settle();
    assert.deepEqual(ws.sent, ['probe', 'upgrade 1']);
    driver.send({ kind: 't', bytes: enc.encode('m2'), raw: 'm2' });
    await settle();
    assert.equal(calls.filter((c) => c.init.method === 'POST').length, 1, 'no POST while the upgrade settles');
    ws.onmessage!({ data: 'upgraded 1' });
    await settle();
    assert.deepEqual(ws.sent, ['probe', 'upgrade 1', 'm2']);
    assert.deepEqual(o.reports.at(-1), ['upgraded']);
    assert.equal(driver.name, 'websocket');
    ws.onmessage!({ data: 'over ws' });
    assert.deepEqual(o.messages, ['a', 'over ws']);
    const posts = calls.filter((c) => c.init.method === 'POST').length;
    driver.send({ kind: 't', bytes: enc.encode('m3'), raw: 'm3' });
    assert.deepEqual(ws.sent.at(-1), 'm3');
    assert.equal(calls.filter((c) => c.init.method === 'POST').length, posts, 'nothing more over HTTP');
    driver.stop();
    assert.equal(decodeBatch(post.init.body!).packets.length, 1);
  });
});
