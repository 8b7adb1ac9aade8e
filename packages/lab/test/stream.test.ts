// The event stream: messages of the exact size asked for, readable by every receiver,
// and arrivals that are random but reproducible when seeded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream } from '../src/stream.js';
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

test('the stream emits on time, in order, and stops', async () => {
  const seen: number[] = [];
  const stream = new EventStream({ rate: 100, size: 64, arrivals: 'fixed' }, (message, seq) => {
    assert.equal(parseMessage(message)!.seq, seq);
    seen.push(seq);
  });
  stream.start();
  await new Promise((resolve) => setTimeout(resolve, 300));
  stream.stop();
  const count = seen.length;
  assert.ok(count >= 20 && count <= 32, `${count} events in 300 ms at 100/s`);
  assert.deepEqual(seen, seen.map((_, i) => i + 1));
  assert.equal(stream.lastSeq, count);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(seen.length, count, 'nothing after stop');
});

test('rate and size are kept within the lab limits', () => {
  const stream = new EventStream({ rate: 1e9, size: 1 }, () => {});
  assert.equal(stream.rate, STREAM_LIMITS.maxRate);
  assert.equal(stream.size, STREAM_LIMITS.minSize);
  stream.configure({ rate: 0, size: 1e9 });
  assert.equal(stream.rate, STREAM_LIMITS.minRate);
  assert.equal(stream.size, STREAM_LIMITS.maxSize);
});
