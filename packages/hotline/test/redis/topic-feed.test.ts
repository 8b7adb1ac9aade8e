/** The live feed's ordering and hole filling, with publications alone: no Redis. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FeedEntry, TopicFeed } from '../../src/redis/topic-feed.js';
import { decodeBrokerPublication, parseOrigin } from '../../src/redis/broker-envelope.js';

const entry = (offset: number, epoch = 'e1'): FeedEntry => ({ epoch, offset, isBinary: false, data: Buffer.from(`m${offset}`), instanceId: 'node0001', tag: 0 });

function feed() {
  const delivered: string[] = [];
  const fetches: [number, number | undefined][] = [];
  const topic = new TopicFeed({ deliver: (e) => delivered.push(`${e.epoch}:${e.offset}`), fetch: (from, to) => fetches.push([from, to]) });
  return { topic, delivered, fetches };
}

describe('TopicFeed', () => {
  it('delivers in order, once, and drops what it delivered already', () => {
    const { topic, delivered, fetches } = feed();
    for (const offset of [4, 5, 5, 3, 6]) topic.live(entry(offset));
    assert.deepEqual(delivered, ['e1:4', 'e1:5', 'e1:6']);
    assert.deepEqual(fetches, []);
  });

  it('holds on a hole, asks history for it, and delivers the held ones after it', () => {
    const { topic, delivered, fetches } = feed();
    topic.live(entry(1));
    topic.live(entry(4));
    topic.live(entry(5));
    assert.deepEqual(fetches, [[2, 3]]);
    assert.deepEqual(delivered, ['e1:1']);
    topic.filled('e1', [entry(2), entry(3)]);
    assert.deepEqual(delivered, ['e1:1', 'e1:2', 'e1:3', 'e1:4', 'e1:5']);
  });

  it('skips what history no longer has, so the jump is visible by position', () => {
    const { topic, delivered } = feed();
    topic.live(entry(1));
    topic.live(entry(5));
    topic.filled('e1', [entry(4)]);
    assert.deepEqual(delivered, ['e1:1', 'e1:4', 'e1:5']);
  });

  it('asks for everything after its position when the link comes back, and retries a failed read', () => {
    const { topic, delivered, fetches } = feed();
    topic.resume(); // nothing delivered yet: nothing to fill
    topic.live(entry(7));
    topic.resume();
    assert.deepEqual(fetches, [[8, undefined]]);
    topic.live(entry(10)); // held while filling
    topic.retry();
    assert.deepEqual(fetches, [[8, undefined], [8, undefined]]);
    topic.filled('e1', [entry(8), entry(9), entry(10)]);
    assert.deepEqual(delivered, ['e1:7', 'e1:8', 'e1:9', 'e1:10']);
    assert.equal(topic.filling, false);
  });

  it('fills a new epoch from its start, whether seen live or in history', () => {
    const live = feed();
    live.topic.live(entry(9));
    live.topic.live(entry(3, 'e2'));
    assert.deepEqual(live.fetches, [[1, 2]]);
    live.topic.filled('e2', [entry(1, 'e2'), entry(2, 'e2')]);
    assert.deepEqual(live.delivered, ['e1:9', 'e2:1', 'e2:2', 'e2:3']);

    const resumed = feed();
    resumed.topic.live(entry(9));
    resumed.topic.resume();
    resumed.topic.filled('e2', []);
    assert.deepEqual(resumed.fetches, [[10, undefined], [1, undefined]]);
    resumed.topic.filled('e2', [entry(1, 'e2')]);
    assert.deepEqual(resumed.delivered, ['e1:9', 'e2:1']);
  });
});

describe('the broker envelope', () => {
  const good = (header: string, data = 'hello') => Buffer.concat([Buffer.from(header + '\n', 'latin1'), Buffer.from(data)]);

  it('decodes what the publish script writes', () => {
    const decoded = decodeBrokerPublication(good('h1 node0001 3 abcDEF_-9 42 b'));
    assert.deepEqual({ ...decoded, data: decoded.data.toString() }, { instanceId: 'node0001', tag: 3, epoch: 'abcDEF_-9', offset: 42, isBinary: true, data: 'hello' });
    assert.deepEqual(decodeBrokerPublication(good('h1 node0001 0 e 1 t', '')).data.length, 0);
    assert.deepEqual(decodeBrokerPublication(good('h1 node0001 0 e 1 t', 'a\nb')).data.toString(), 'a\nb');
  });

  it('refuses every deviation with HL_ERR_INVALID_ENVELOPE', () => {
    for (const header of ['h2 node0001 0 e 1 t', 'h1 node0001 0 e 1', 'h1 node0001 0 e 1 t x', 'h1 short 0 e 1 t', 'h1 node0001 -1 e 1 t', 'h1 node0001 0 e+ 1 t', 'h1 node0001 0 e 0 t', 'h1 node0001 0 e 01 t', 'h1 node0001 0 e 1 x', 'h1  node0001 0 e 1 t']) {
      assert.throws(() => decodeBrokerPublication(good(header)), { code: 'HL_ERR_INVALID_ENVELOPE' }, header);
    }
    assert.throws(() => decodeBrokerPublication(Buffer.from('h1 node0001 0 e 1 t')), { code: 'HL_ERR_INVALID_ENVELOPE' });
    assert.throws(() => decodeBrokerPublication(Buffer.alloc(200, 0x41)), { code: 'HL_ERR_INVALID_ENVELOPE' });
  });

  it('parses a stream entry origin strictly', () => {
    assert.deepEqual(parseOrigin('node0001 7'), { instanceId: 'node0001', tag: 7 });
    for (const bad of ['node0001', 'node0001 7 8', 'no 7', 'node0001 x']) assert.equal(parseOrigin(bad), undefined, bad);
  });
});
