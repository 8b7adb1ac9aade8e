/**
 * The links, each over a response of the test's own: what each transport writes, when,
 * and how it follows backpressure and the core's deadlines — no server, no sockets.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { TransportError } from '../../src/errors.js';
import { ServerSession, SessionDeadline, packetCost } from '../../src/protocol/session/server-session.js';
import { SseParser, decodeBatch, decodeSseData, type Handshake } from '../../src/protocol/session/wire.js';
import { LongPoll } from '../../src/transports/long-poll.js';
import { resolveHttpTransportOptions } from '../../src/transports/options.js';
import { Polling } from '../../src/transports/polling.js';
import type { LinkedSession } from '../../src/transports/session-link.js';
import { SseStream } from '../../src/transports/sse.js';

const LIMITS = { maxQueue: 1 << 20, maxQueueMessages: 100, hold: 1000, heartbeat: 500, sessionTimeout: 5000, confirmTimeout: 1000, closeTimeout: 1000, probeTimeout: 1000 };
const HANDSHAKE: Handshake = { sid: 's', transport: 'sse', hold: 1, interval: 1, heartbeat: 1, sessionTimeout: 4000, maxBody: 1, ackDelay: 1, maxPackets: 1 };

/** A response that keeps what is written; `room` bytes fit before `write` asks to wait. */
class FakeResponse extends EventEmitter {
  status = 0;
  chunks: Buffer[] = [];
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  headersSent = false;
  socket = { setNoDelay() {} };
  constructor(private readonly room = Infinity) {
    super();
  }
  get writableNeedDrain(): boolean {
    return this.writableLength >= this.room;
  }
  writeHead(status: number): this {
    this.status = status;
    this.headersSent = true;
    return this;
  }
  write(chunk: string | Uint8Array): boolean {
    const bytes = Buffer.from(chunk);
    this.chunks.push(bytes);
    // What fits the kernel's buffers is taken at once; the rest waits.
    if (this.room !== Infinity) this.writableLength += bytes.length;
    return this.writableLength < this.room;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  /** The kernel takes everything: 'drain'. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  asResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

function session(): LinkedSession & { closes: number; answered: ServerResponse[] } {
  const s = {
    core: new ServerSession(LIMITS, 0),
    host: { options: resolveHttpTransportOptions({ heartbeat: 500, sessionTimeout: 4000 }), now: () => 0, answered: (r: ServerResponse) => void s.answered.push(r) },
    reserve: () => {},
    closeAcknowledged: () => void s.closes++,
    closes: 0,
    answered: [] as ServerResponse[],
  };
  return s;
}

function push(s: LinkedSession, ...messages: string[]): void {
  for (const m of messages) s.core.push('t', Buffer.from(m), packetCost(m.length, 0));
}

function events(response: FakeResponse) {
  return new SseParser().feed(response.text);
}

describe('SseStream', () => {
  it('opens with retry and the session event, then writes each queued packet as an event', () => {
    const s = session();
    push(s, 'one', 'two');
    const link = new SseStream(s);
    const response = new FakeResponse();
    link.answerHandshake(response.asResponse(), HANDSHAKE);
    assert.equal(response.status, 200);
    assert.ok(response.text.startsWith('retry: 1000\n'), 'retry: a quarter of sessionTimeout');
    const [open, ...rest] = events(response);
    assert.equal(open!.type, 'session');
    assert.deepEqual(rest.map((e) => [e.lastEventId, Buffer.from((decodeSseData(e.data) as { data: Uint8Array }).data).toString()]), [['1', 'one'], ['2', 'two']]);
    assert.equal(s.core.sentSeq, 2);
  });

  it('stops at backpressure and writes on at drain', () => {
    const s = session();
    const link = new SseStream(s);
    const response = new FakeResponse(40);
    link.poll(response.asResponse());
    response.drain();
    push(s, 'a'.repeat(30), 'b', 'c');
    link.flush();
    assert.equal(events(response).length, 1, 'the first event filled the socket');
    assert.equal(link.ready, false);
    response.drain();
    assert.equal(events(response).length, 3);
    assert.equal(s.core.sentSeq, 3);
  });

  it('beats on the HEARTBEAT deadline only when nothing waits to be written', () => {
    const s = session();
    const link = new SseStream(s);
    const response = new FakeResponse(1000);
    link.poll(response.asResponse());
    response.drain();
    link.sweep(0, SessionDeadline.HEARTBEAT);
    assert.ok(response.text.endsWith(':\n\n'));
    const length = response.text.length;
    response.writableLength = 1;
    link.sweep(0, SessionDeadline.HEARTBEAT);
    assert.equal(response.text.length, length);
  });

  it('a client that hangs up after the close packet has it', () => {
    const s = session();
    const link = new SseStream(s);
    const response = new FakeResponse();
    link.poll(response.asResponse());
    s.core.close(4000, 'bye', 0);
    link.flush();
    assert.deepEqual(decodeSseData(events(response).at(-1)!.data), { kind: 'c', code: 4000, reason: 'bye' });
    response.destroy();
    assert.equal(s.closes, 1);
  });

  it('a reconnection replaces the stream and resumes after what was acknowledged', () => {
    const s = session();
    push(s, 'a', 'b', 'c');
    const link = new SseStream(s);
    const first = new FakeResponse();
    link.poll(first.asResponse());
    s.core.acknowledge(2);
    const second = new FakeResponse();
    link.poll(second.asResponse());
    assert.ok(first.destroyed);
    assert.deepEqual(events(second).map((e) => e.lastEventId), ['3']);
  });
});

describe('LongPoll', () => {
  it('holds a poll that finds nothing and answers it with what is queued next', () => {
    const s = session();
    const link = new LongPoll(s);
    const response = new FakeResponse();
    link.poll(response.asResponse());
    assert.equal(response.status, 0, 'held');
    assert.ok(link.open && link.ready);
    push(s, 'x');
    link.flush();
    assert.equal(response.status, 200);
    assert.equal(response.text, '1;t1:x');
    assert.equal(link.open, false);
  });

  it('answers the held poll empty at the HOLD deadline', () => {
    const s = session();
    const link = new LongPoll(s);
    const response = new FakeResponse();
    link.poll(response.asResponse());
    link.sweep(0, 0);
    assert.equal(response.status, 0);
    link.sweep(0, SessionDeadline.HOLD);
    assert.equal(response.text, '1;');
  });

  it('refuses a second poll while one is held', () => {
    const s = session();
    const link = new LongPoll(s);
    link.poll(new FakeResponse().asResponse());
    assert.throws(() => link.poll(new FakeResponse().asResponse()), (e: unknown) => e instanceof TransportError && e.code === 'HL_ERR_CONCURRENT_POLL');
  });

  it('carries the eviction’s close packet on the held poll', () => {
    const s = session();
    const link = new LongPoll(s);
    const response = new FakeResponse();
    link.poll(response.asResponse());
    s.core.evict(1013, 'out of memory');
    link.evicted();
    assert.deepEqual(decodeBatch(Buffer.concat(response.chunks)).packets, [{ kind: 'c', code: 1013, reason: 'out of memory' }]);
  });
});

describe('Polling', () => {
  it('answers every poll at once with the whole queue, the handshake with the open packet first', () => {
    const s = session();
    push(s, 'a');
    const link = new Polling(s, false);
    const response = new FakeResponse();
    link.answerHandshake(response.asResponse(), { ...HANDSHAKE, transport: 'polling' });
    assert.deepEqual(decodeBatch(Buffer.concat(response.chunks), { allowOpen: true }).packets.map((p) => p.kind), ['o', 't']);
    assert.equal(link.ready, false);
  });

  it('short polling drops an unread answer at the next poll; interval polling answers that poll empty', () => {
    for (const fixed of [false, true]) {
      const s = session();
      push(s, 'a');
      const link = new Polling(s, fixed);
      const unread = new FakeResponse(1);
      link.poll(unread.asResponse());
      assert.equal(link.responseBytes() > 0, true);
      const next = new FakeResponse();
      link.poll(next.asResponse());
      assert.equal(unread.destroyed, !fixed);
      assert.equal(next.text, fixed ? '2;' : '1;t1:a');
    }
  });

  it('hands an answer still on its way to the registry when a WebSocket takes the session over', () => {
    const s = session();
    push(s, 'a');
    const link = new Polling(s, false);
    const unread = new FakeResponse(1);
    link.poll(unread.asResponse());
    link.end(false);
    assert.deepEqual(s.answered, [unread]);
    assert.equal(unread.destroyed, false);
    assert.equal(link.responseBytes(), 0);
  });
});
