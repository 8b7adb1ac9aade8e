// The event stream: messages of the exact size asked for, readable by every receiver,
// and arrivals that are random but reproducible when seeded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream, type StreamClock } from '../src/stream.js';
import { STREAM_LIMITS, buildMessage, parseMessage } from '../src/stream-message.js';

test('a message has exactly the size asked for and carries seq and send time', () => {
  for (const size of [STREAM_LIMITS.minSize, 64, 128, 1000, STREAM_LIMITS.maxSize]) {
    const text = buildMessage(123456, 1_732_480_000_123.4567, size);
    assert.equal(Buffer.byteLength(text), size);
    assert.deepEqual(parseMessage(text), { seq: 123456, t: 1_732_480_000_123.457 });
    assert.deepEqual(Object.keys(JSON.parse(text) as object), ['seq', 't', 'pad']);
  }
  assert.equal(parseMessage('{"type":"history"}'), null);
});

test('seeded arrivals are the same sequence every time, at the asked rate on average', () => {
  const gaps = (seed: number) => {
    const times: number[] = [];
    const stream = new EventStream({ rate: 10, size: 64, seed }, () => {});
    // Draw gaps without timers: the private generator through the schedule it feeds.
    for (let i = 0; i < 2000; i++) times.push((stream as unknown as { gap(): number }).gap());
    return times;
  };
  const a = gaps(42);
  assert.deepEqual(a, gaps(42));
  assert.notDeepEqual(a, gaps(43));
  const mean = a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(Math.abs(mean - 100) < 8, `mean gap ${mean} ms for 10 events/s`);
  // Exponential: about e^-1 of the gaps exceed the mean.
  const over = a.filter((g) => g > 100).length / a.length;
  assert.ok(over > 0.32 && over < 0.42, `${over} of the gaps exceed the mean`);
});

/** A clock that moves only when told: one pending timer at most, as the stream uses it. */
class FakeClock implements StreamClock {
  time = 0;
  private pending: { at: number; callback: (stream: EventStream) => void; stream: EventStream; handle: number } | null = null;
  private handles = 0;
  now(): number {
    return this.time;
  }
  setTimer(callback: (stream: EventStream) => void, ms: number, stream: EventStream): unknown {
    this.pending = { at: this.time + ms, callback, stream, handle: ++this.handles };
    return this.handles;
  }
  clearTimer(handle: unknown): void {
    if (this.pending?.handle === handle) this.pending = null;
  }
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    while (this.pending !== null && this.pending.at <= end) {
      const { at, callback, stream } = this.pending;
      this.pending = null;
      this.time = Math.max(this.time, at);
      callback(stream);
    }
    this.time = end;
  }
}

test('the stream emits on time, in order, and stops', () => {
  const clock = new FakeClock();
  const seen: Array<{ seq: number; at: number }> = [];
  const stream = new EventStream({ rate: 100, size: 64, arrivals: 'fixed', clock }, (message, seq) => {
    assert.equal(parseMessage(message)!.seq, seq);
    seen.push({ seq, at: clock.now() });
  });
  stream.start();
  clock.advance(300);
  stream.stop();
  // 100/s, fixed: one every 10 ms, the first 10 ms after start.
  assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.deepEqual(seen.map((e) => e.at), Array.from({ length: 30 }, (_, i) => (i + 1) * 10));
  assert.equal(stream.lastSeq, 30);
  assert.equal(stream.running, false);
  clock.advance(1000);
  assert.equal(seen.length, 30, 'nothing after stop');
});

test('after a stall, every message that fell due is sent at once, in order', () => {
  const clock = new FakeClock();
  const seen: number[] = [];
  const stream = new EventStream({ rate: 100, size: 64, arrivals: 'fixed', clock }, (_message, seq) => seen.push(seq));
  stream.start();
  // The loop was busy for 95 ms: the timer fires late, once.
  clock.time = 95;
  clock.advance(0);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  stream.stop();
});

test('rate and size are kept within the lab limits', () => {
  const stream = new EventStream({ rate: 1e9, size: 1 }, () => {});
  assert.equal(stream.rate, STREAM_LIMITS.maxRate);
  assert.equal(stream.size, STREAM_LIMITS.minSize);
  stream.configure({ rate: 0, size: 1e9 });
  assert.equal(stream.rate, STREAM_LIMITS.minRate);
  assert.equal(stream.size, STREAM_LIMITS.maxSize);
});
