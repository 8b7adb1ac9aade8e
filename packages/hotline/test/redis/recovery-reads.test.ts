/**
 * The coalescing of recovery reads, with its reads answered by hand: no Redis, so that a
 * read can be held in flight while callers come and the live feed moves on. What Redis
 * answers is in `recover-coalescing.test.ts`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Answer, type History, RecoveryReads } from '../../src/redis/recovery-reads.js';
import type { FeedEntry } from '../../src/redis/topic-feed.js';

const entry = (offset: number, epoch = 'e1'): FeedEntry => ({ epoch, offset, isBinary: false, data: Buffer.from(`m${offset}`), instanceId: 'node0001', tag: 0 });
const range = (from: number, to: number, epoch = 'e1') => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => entry(from + i, epoch));
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A stream of offsets 1..seq in one epoch, all kept; reads wait until `answer`. */
function harness(seq: number, epoch = 'e1') {
  const stream = { epoch, seq };
  const feed: { epoch: string | undefined; offset: number } = { epoch: undefined, offset: 0 };
  const asked: { epoch: string; from: number; count: number; answer: () => void }[] = [];
  const reads = new RecoveryReads({
    read: (asking, from, count) =>
      new Promise<History>((resolve) => {
        // What Redis holds when the read runs, not when it is answered.
        const { epoch, seq } = stream;
        const entries = asking === epoch ? range(from, Math.min(seq, from + count - 1), epoch) : [];
        const history: History = { epoch, seq, oldest: 1, expired: false, entries, asked: asking, from, complete: entries.length < count || entries.at(-1)?.offset === seq };
        asked.push({ epoch: asking, from, count, answer: () => resolve(history) });
      }),
    feed,
    historySize: 1_000,
    reuse: 60_000,
  });
  /** The live feed delivers the next `n` offsets (published after the reads so far ran). */
  const publish = (n: number) => {
    for (let i = 0; i < n; i++) {
      stream.seq++;
      feed.epoch = stream.epoch;
      feed.offset = stream.seq;
      reads.delivered(entry(stream.seq, stream.epoch));
    }
  };
  return { reads, stream, feed, asked, publish };
}

const offsets = (answer: Answer) => answer.entries.map((e) => e.offset);

describe('RecoveryReads', () => {
  it('sends the recoveries of one turn as one read, from the lowest position', async () => {
    const { reads, asked } = harness(10);
    const answers = Promise.all([7, 2, 9, 10].map((offset) => reads.recover({ epoch: 'e1', offset }, 100)));
    await turn();
    assert.deepEqual(asked.map(({ from, count }) => [from, count]), [[3, 109]]);
    asked[0]!.answer();
    assert.deepEqual((await answers).map(offsets), [[8, 9, 10], [3, 4, 5, 6, 7, 8, 9, 10], [10], []]);
    assert.equal(reads.sent, 1);
  });

  it('lets a caller join a read in flight, and brings its answer up to what the feed delivered meanwhile', async () => {
    const { reads, asked, publish, feed } = harness(10);
    feed.epoch = 'e1';
    feed.offset = 10;
    const first = reads.recover({ epoch: 'e1', offset: 5 }, 100);
    await turn();
    // Published after the read ran, delivered before the next caller subscribed: in neither
    // the reply nor that caller's live feed, unless its answer reaches the feed.
    publish(2);
    const joiner = reads.recover({ epoch: 'e1', offset: 6 }, 100);
    await turn();
    asked[0]!.answer();
    assert.deepEqual(offsets(await first), [6, 7, 8, 9, 10]);
    const joined = await joiner;
    assert.deepEqual([joined.offset, ...offsets(joined)], [12, 7, 8, 9, 10, 11, 12]);
    assert.equal(reads.sent, 1);
  });

  it('sends a caller whose position the read in flight does not cover to the next read', async () => {
    const { reads, asked } = harness(10);
    const first = reads.recover({ epoch: 'e1', offset: 5 }, 100);
    await turn();
    const lower = reads.recover({ epoch: 'e1', offset: 1 }, 100);
    await turn();
    assert.equal(asked.length, 1, 'the next read waits for the one in flight');
    asked[0]!.answer();
    await first;
    await turn();
    assert.deepEqual(asked.map(({ from }) => from), [6, 2]);
    asked[1]!.answer();
    assert.deepEqual(offsets(await lower), range(2, 10).map((e) => e.offset));
  });

  it('makes a joiner wait for the next read when the feed moved to another epoch meanwhile', async () => {
    const { reads, asked, stream, feed } = harness(10);
    const first = reads.recover({ epoch: 'e1', offset: 5 }, 100);
    await turn();
    // Redis lost the topic; the node already delivered the new epoch's first publication.
    Object.assign(stream, { epoch: 'e2', seq: 1 });
    Object.assign(feed, { epoch: 'e2', offset: 1 });
    reads.delivered(entry(1, 'e2'));
    const joiner = reads.recover({ epoch: 'e1', offset: 5 }, 100);
    await turn();
    asked[0]!.answer();
    assert.equal((await first).epoch, 'e1', 'a member takes the reply as it is');
    await turn();
    assert.equal(asked.length, 2);
    asked[1]!.answer();
    assert.deepEqual((await joiner).epoch, 'e2');
  });

  it('answers from the last reply without a read while the feed has every delivery since', async () => {
    const { reads, asked, publish, feed } = harness(10);
    Object.assign(feed, { epoch: 'e1', offset: 10 });
    const first = reads.recover({ epoch: 'e1', offset: 8 }, 100);
    await turn();
    asked[0]!.answer();
    await first;
    publish(3);
    const later = await reads.recover({ epoch: 'e1', offset: 9 }, 100);
    assert.deepEqual([later.offset, ...offsets(later)], [13, 10, 11, 12, 13]);
    // Below what the reply holds, and not a loss by retention: it needs a read of its own.
    const lower = reads.recover({ epoch: 'e1', offset: 2 }, 100);
    await turn();
    assert.equal(asked.length, 2);
    asked[1]!.answer();
    assert.deepEqual(offsets(await lower), range(3, 13).map((e) => e.offset));
  });
});
