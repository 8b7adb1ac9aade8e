/**
 * What every pub/sub engine must do for the server, as tests any engine can be run
 * through (`PubSubEngine` in src/pubsub/engine.ts): the memory engine now, a broker
 * engine (one node of it) next.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { PubSubEngine } from '../../src/pubsub/engine.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import type { Subscriber } from '../../src/pubsub/topic-tree.js';
import type { SendResult } from '../../src/types.js';

export class Recording implements Subscriber<PublishedMessage> {
  readonly got: PublishedMessage[] = [];
  constructor(public answer: SendResult = 'sent') {}
  deliver(message: PublishedMessage): SendResult {
    this.got.push(message);
    return this.answer;
  }
}

const message = (text: string): PublishedMessage => ({ data: Buffer.from(text), isBinary: false });

export function engineContract(make: () => PubSubEngine<PublishedMessage>): void {
  it('subscribes once per topic, and says whether anything changed', async () => {
    const engine = make();
    const a = new Recording();
    assert.equal(engine.subscribe(a, 'x'), true);
    assert.equal(engine.subscribe(a, 'x'), false);
    assert.equal(engine.subscribe(a, 'y'), true);
    assert.equal(engine.isSubscribed(a, 'x'), true);
    assert.deepEqual(engine.topicsOf(a), ['x', 'y']);
    assert.equal(engine.subscriberCount('x'), 1);
    assert.equal(engine.unsubscribe(a, 'x'), true);
    assert.equal(engine.unsubscribe(a, 'x'), false);
    assert.equal(engine.isSubscribed(a, 'x'), false);
    assert.deepEqual(engine.topicsOf(a), ['y']);
    assert.equal(engine.subscriberCount('x'), 0);
    await engine.close();
  });

  it('delivers the one message object to every local subscriber but the excepted one, synchronously', async () => {
    const engine = make();
    const [a, b, c] = [new Recording(), new Recording('buffered'), new Recording()];
    for (const s of [a, b, c]) engine.subscribe(s, 'room');
    const one = message('hello');
    assert.equal(engine.publish('room', one, c), 2);
    assert.deepEqual([a.got, b.got, c.got], [[one], [one], []]);
    assert.equal(engine.publish('nobody', message('x')), 0);
    await engine.close();
  });

  it('does not count a subscriber that dropped the message, and names it', async () => {
    const engine = make();
    const [a, full] = [new Recording(), new Recording('dropped')];
    engine.subscribe(a, 'room');
    engine.subscribe(full, 'room');
    const dropped: Subscriber<PublishedMessage>[] = [];
    assert.equal(engine.publish('room', message('x'), undefined, (s) => dropped.push(s)), 1);
    assert.deepEqual(dropped, [full]);
    await engine.close();
  });

  it('takes a closed subscriber off every topic at once', async () => {
    const engine = make();
    const [a, b] = [new Recording(), new Recording()];
    for (const topic of ['x', 'y', 'z']) engine.subscribe(a, topic);
    engine.subscribe(b, 'y');
    engine.unsubscribeAll(a);
    assert.deepEqual(engine.topicsOf(a), []);
    assert.deepEqual(['x', 'y', 'z'].map((t) => engine.subscriberCount(t)), [0, 1, 0]);
    assert.equal(engine.publish('x', message('x')), 0);
    assert.equal(engine.publish('y', message('y')), 1);
    engine.unsubscribeAll(a); // a second time: nothing to do
    await engine.close();
  });

  it('drops every subscription when closed, and resolves', async () => {
    const engine = make();
    const a = new Recording();
    engine.subscribe(a, 'x');
    await engine.close();
    assert.equal(engine.subscriberCount('x'), 0);
    assert.equal(engine.publish('x', message('late')), 0);
    assert.deepEqual(a.got, []);
  });
}
