import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Publication, type Subscriber, TopicTree } from '../../src/pubsub/topic-tree.js';
import type { SendResult } from '../../src/types.js';

class Fake implements Subscriber {
  readonly got: Publication[] = [];
  constructor(private readonly answer: SendResult) {}
  deliver(publication: Publication): SendResult {
    if (this.answer !== 'dropped') this.got.push(publication);
    return this.answer;
  }
}

const publication = (text: string): Publication => ({ data: Buffer.from(text), isBinary: false });

describe('TopicTree.publish', () => {
  it('counts only the subscribers that took the message, and names those that dropped it', () => {
    const tree = new TopicTree();
    const sent = new Fake('sent');
    const buffered = new Fake('buffered');
    const full = new Fake('dropped');
    for (const subscriber of [sent, buffered, full]) tree.subscribe(subscriber, 'room');
    const dropped: Subscriber[] = [];
    assert.equal(tree.publish('room', publication('hi'), undefined, (s) => dropped.push(s)), 2);
    assert.deepEqual(dropped, [full]);
    assert.equal(sent.got.length, 1);
    assert.equal(buffered.got.length, 1);
  });

  it('skips the excepted subscriber without counting it', () => {
    const tree = new TopicTree();
    const a = new Fake('sent');
    const b = new Fake('sent');
    tree.subscribe(a, 't');
    tree.subscribe(b, 't');
    assert.equal(tree.publish('t', publication('x'), a), 1);
    assert.equal(a.got.length, 0);
  });

  it('returns 0 for a topic nobody subscribed to', () => {
    assert.equal(new TopicTree().publish('nobody', publication('x')), 0);
  });
});
