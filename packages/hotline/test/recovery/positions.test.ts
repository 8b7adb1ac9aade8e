import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { PositionTracker } from '../../src/browser/positions.js';
import { MAX_SINCE_BYTES, decodeSince, recoveryMessage } from '../../src/protocol/session/envelope.js';
import { Publication } from '../../src/websocket/publication.js';

const publication = (topic: string, epoch: string, offset: number, data = `${topic}${offset}`) =>
  new Publication(topic, Buffer.from(data), false, epoch, offset).enveloped.data.toString();

describe('the client positions', () => {
  it('strips the envelope of text and binary messages', () => {
    const tracker = new PositionTracker();
    assert.deepEqual(tracker.receive('mhi'), { message: { data: 'hi' } });
    const binary = new Uint8Array([0x6d, 1, 2]).buffer;
    assert.deepEqual(new Uint8Array(tracker.receive(binary).message!.data as ArrayBuffer), new Uint8Array([1, 2]));
    const received = tracker.receive(publication('t', 'e1', 1, 'é'));
    assert.deepEqual(received.message, { data: 'é', topic: 't', position: { epoch: 'e1', offset: 1 } });
    assert.throws(() => tracker.receive('x'), /envelope kind/);
  });

  it('drops repeats, reports epoch changes and gaps, and not twice after a notice', () => {
    const tracker = new PositionTracker();
    tracker.receive(publication('t', 'e1', 1));
    assert.deepEqual(tracker.receive(publication('t', 'e1', 1)), {});
    assert.equal(tracker.receive(publication('t', 'e1', 2)).recovery, undefined);
    assert.deepEqual(tracker.receive(publication('t', 'e1', 5)).recovery, { topic: 't', recovered: false, reason: 'gap', epoch: 'e1', offset: 4 });
    assert.deepEqual(tracker.receive(publication('t', 'e2', 3)).recovery, { topic: 't', recovered: false, reason: 'epoch', epoch: 'e2', offset: 2 });
    const notice = tracker.receive(recoveryMessage({ topic: 't', recovered: false, reason: 'retention', epoch: 'e2', offset: 9 }));
    assert.equal(notice.message, undefined);
    assert.equal(notice.recovery?.reason, 'retention');
    // The application was told: the next publication starts the position over, silently.
    const after = tracker.receive(publication('t', 'e2', 20));
    assert.equal(after.recovery, undefined);
    assert.equal(after.message?.data, 't20');
    assert.deepEqual(tracker.position('t'), { epoch: 'e2', offset: 20 });
  });

  it('names its positions in since, within the limit a server accepts', () => {
    const tracker = new PositionTracker();
    assert.deepEqual(tracker.params(), { envelope: '1' });
    tracker.receive(publication('a', 'e1', 3));
    tracker.receive(publication('b', 'e2', 7));
    assert.deepEqual([...decodeSince(tracker.params().since!)], [['a', { epoch: 'e1', offset: 3 }], ['b', { epoch: 'e2', offset: 7 }]]);
    for (let i = 0; i < 400; i++) tracker.receive(publication(`topic-${i}`, 'epochepoch1', 1));
    tracker.receive(publication('a', 'e1', 4)); // the most recent: kept
    const since = tracker.params().since!;
    assert.ok(since.length <= MAX_SINCE_BYTES);
    const kept = decodeSince(since);
    assert.deepEqual(kept.get('a'), { epoch: 'e1', offset: 4 });
    assert.equal(kept.has('b'), false);
  });
});
