import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Subscriber, TopicTree } from '../../src/pubsub/topic-tree.js';
import type { SendResult } from '../../src/types.js';

/** The index never looks inside what it carries: any type will do. */
interface Note {
  readonly text: string;
}

class Fake implements Subscriber<Note> {
  readonly got: Note[] = [];
  constructor(private readonly answer: SendResult) {}
  deliver(note: Note): SendResult {
    if (this.answer !== 'dropped') this.got.push(note);
    return this.answer;
  }
}

const note = (text: string): Note => ({ text });

describe('TopicTree.publish', () => {
  it('counts only the subscribers that took the message, and names those that dropped it', () => {
    const tree = new TopicTree<Note>();
    const sent = new Fake('sent');
    const buffered = new Fake('buffered');
    const full = new Fake('dropped');
    for (const subscriber of [sent, buffered, full]) tree.subscribe(subscriber, 'room');
    const dropped: Subscriber<Note>[] = [];
    assert.equal(tree.publish('room', note('hi'), undefined, (s) => dropped.push(s)), 2);
    assert.deepEqual(dropped, [full]);
    assert.equal(sent.got.length, 1);
    assert.equal(buffered.got.length, 1);
  });

  it('skips the excepted subscriber without counting it', () => {
    const tree = new TopicTree<Note>();
    const a = new Fake('sent');
    const b = new Fake('sent');
    tree.subscribe(a, 't');
    tree.subscribe(b, 't');
    assert.equal(tree.publish('t', note('x'), a), 1);
    assert.equal(a.got.length, 0);
  });

  it('returns 0 for a topic nobody subscribed to', () => {
    assert.equal(new TopicTree<Note>().publish('nobody', note('x')), 0);
  });

  it('hands every subscriber the same object', () => {
    const tree = new TopicTree<Note>();
    const a = new Fake('sent');
    const b = new Fake('buffered');
    tree.subscribe(a, 't');
    tree.subscribe(b, 't');
    const one = note('shared');
    tree.publish('t', one);
    assert.equal(a.got[0], one);
    assert.equal(b.got[0], one);
  });
});

describe('TopicTree subscriptions', () => {
  it('keeps no empty topic and no subscriber without a topic', () => {
    const tree = new TopicTree<Note>();
    const a = new Fake('sent');
    const b = new Fake('sent');
    assert.equal(tree.subscribe(a, 'x'), true);
    assert.equal(tree.subscribe(a, 'x'), false, 'a second subscribe is a no-op');
    tree.subscribe(a, 'y');
    tree.subscribe(b, 'y');
    assert.deepEqual([tree.topicCount, tree.subscribedCount], [2, 2]);
    assert.equal(tree.unsubscribe(a, 'x'), true);
    assert.equal(tree.unsubscribe(a, 'x'), false);
    assert.deepEqual([tree.topicCount, tree.subscribedCount], [1, 2]);
    tree.unsubscribeAll(b);
    assert.deepEqual(tree.topicsOf(b), []);
    assert.equal(tree.subscriberCount('y'), 1);
    tree.unsubscribeAll(a);
    assert.deepEqual([tree.topicCount, tree.subscribedCount], [0, 0]);
  });

  it('clear forgets every subscription', () => {
    const tree = new TopicTree<Note>();
    const a = new Fake('sent');
    tree.subscribe(a, 'x');
    tree.subscribe(a, 'y');
    tree.clear();
    assert.deepEqual([tree.topicCount, tree.subscribedCount, tree.subscriberCount('x')], [0, 0, 0]);
    assert.equal(tree.isSubscribed(a, 'x'), false);
    assert.equal(tree.publish('x', note('gone')), 0);
  });

  it('delivers once to each remaining member when one leaves the topic while being delivered to', () => {
    const tree = new TopicTree<Note>();
    const got: string[] = [];
    const members: Subscriber<Note>[] = [];
    for (let i = 0; i < 4; i++) {
      const member: Subscriber<Note> = {
        deliver() {
          got.push(`m${i}`);
          // The second one leaves, and takes the fourth with it.
          if (i === 1) {
            tree.unsubscribe(member, 't');
            tree.unsubscribe(members[3]!, 't');
          }
          return 'sent';
        },
      };
      members.push(member);
      tree.subscribe(member, 't');
    }
    assert.equal(tree.publish('t', note('x')), 3);
    assert.deepEqual(got, ['m0', 'm1', 'm2']);
    assert.equal(tree.subscriberCount('t'), 2);
  });
});
