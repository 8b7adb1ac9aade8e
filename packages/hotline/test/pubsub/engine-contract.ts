/**
 * What every pub/sub engine must do for the server, as tests any engine is run through
 * (`PubSubEngine` in src/pubsub/engine.ts): the memory engine, and one node of the Redis
 * engine against a real redis-server. Deliveries are awaited, not assumed synchronous: a
 * broker engine delivers once the broker has ordered a publication.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { EngineHost, PresenceEvent, PubSubEngine } from '../../src/pubsub/engine.js';
import type { EngineOptions } from '../../src/pubsub/engine-options.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';
import type { Subscriber } from '../../src/pubsub/topic-tree.js';
import type { SendResult } from '../../src/types.js';

export class Recording implements Subscriber<PublishedMessage> {
  readonly got: PublishedMessage[] = [];
  private waiters: (() => void)[] = [];
  constructor(public answer: SendResult = 'sent') {}
  deliver(message: PublishedMessage): SendResult {
    this.got.push(message);
    for (const wake of this.waiters.splice(0)) wake();
    return this.answer;
  }
  texts(): string[] {
    return this.got.map((m) => m.data.toString());
  }
  /** Resolves once `count` messages have arrived (fails after 5 s). */
  async until(count: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (this.got.length < count) {
      if (Date.now() > deadline) throw new Error(`got ${this.got.length} of ${count} messages`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

/** A host as the server is one: plain message objects, errors collected. */
export function bound<E extends PubSubEngine<PublishedMessage>>(engine: E, errors: Error[] = []): E {
  const host: EngineHost<PublishedMessage> = {
    message: (topic, data, isBinary, epoch, offset) => ({ topic, data, isBinary, epoch, offset }),
    error: (error) => errors.push(error),
  };
  engine.bind(host);
  return engine;
}

const text = (s: string): Buffer => Buffer.from(s);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `make` gives a new, unbound engine; every engine it gives shares one broker (a new topic namespace per test is the caller's). */
export function engineContract(make: (options?: EngineOptions) => Promise<PubSubEngine<PublishedMessage>> | PubSubEngine<PublishedMessage>): void {
  let topicSeq = 0;
  // Topics unique per test and run, so that engines sharing a broker never see each other's.
  const fresh = (name: string) => `${name}:${process.pid}:${Date.now().toString(36)}:${topicSeq++}`;
  const engineOf = async (options?: EngineOptions) => bound(await make(options));

  it('has an instance id fit for a session id prefix', async () => {
    const engine = await engineOf();
    assert.match(engine.instanceId, /^[A-Za-z0-9_-]{8,16}$/);
    await engine.close();
  });

  it('subscribes once per topic, and says whether anything changed', async () => {
    const engine = await engineOf();
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

  it('delivers one message object per publication to every local subscriber but the excepted one, with increasing offsets', async () => {
    const engine = await engineOf();
    const topic = fresh('room');
    const [a, b, c] = [new Recording(), new Recording('buffered'), new Recording()];
    for (const s of [a, b, c]) engine.subscribe(s, topic);
    const first = await engine.publishAcknowledged(topic, text('one'), false, { except: c });
    engine.publish(topic, text('two'), false);
    await a.until(2);
    await b.until(2);
    await c.until(1);
    assert.deepEqual(a.texts(), ['one', 'two']);
    assert.equal(a.got[0], b.got[0], 'one object for every local subscriber');
    assert.deepEqual(c.texts(), ['two']);
    assert.equal(first.duplicate, false);
    assert.deepEqual([a.got[0]!.topic, a.got[0]!.epoch, a.got[0]!.offset], [topic, first.epoch, first.offset]);
    assert.equal(a.got[1]!.offset, first.offset + 1);
    assert.equal(a.got[1]!.epoch, first.epoch);
    assert.equal(a.got[0]!.isBinary, false);
    await engine.close();
  });

  it('keeps total order per topic under a burst', async () => {
    const engine = await engineOf();
    const topic = fresh('burst');
    const a = new Recording();
    engine.subscribe(a, topic);
    for (let i = 0; i < 200; i++) engine.publish(topic, text(String(i)), false);
    await engine.publishAcknowledged(topic, text('end'), false);
    await a.until(201);
    assert.deepEqual(a.texts().slice(0, 200), Array.from({ length: 200 }, (_, i) => String(i)));
    for (let i = 1; i < a.got.length; i++) assert.equal(a.got[i]!.offset, a.got[i - 1]!.offset + 1);
    await engine.close();
  });

  it('names a subscriber that dropped the message', async () => {
    const engine = await engineOf();
    const topic = fresh('room');
    const [a, full] = [new Recording(), new Recording('dropped')];
    engine.subscribe(a, topic);
    engine.subscribe(full, topic);
    const dropped: Subscriber<PublishedMessage>[] = [];
    await engine.publishAcknowledged(topic, text('x'), false, { onDropped: (s) => dropped.push(s) });
    await a.until(1);
    assert.deepEqual(dropped, [full]);
    await engine.close();
  });

  it('takes a closed subscriber off every topic at once', async () => {
    const engine = await engineOf();
    const [x, y] = [fresh('x'), fresh('y')];
    const [a, b] = [new Recording(), new Recording()];
    engine.subscribe(a, x);
    engine.subscribe(a, y);
    engine.subscribe(b, y);
    engine.unsubscribeAll(a);
    assert.deepEqual(engine.topicsOf(a), []);
    assert.deepEqual([engine.subscriberCount(x), engine.subscriberCount(y)], [0, 1]);
    await engine.publishAcknowledged(x, text('x'), false);
    await engine.publishAcknowledged(y, text('y'), false);
    await b.until(1);
    await sleep(20);
    assert.deepEqual(a.got, []);
    engine.unsubscribeAll(a); // a second time: nothing to do
    await engine.close();
  });

  it('publishes an id once within the window, and says so', async () => {
    const engine = await engineOf();
    const topic = fresh('dedup');
    const a = new Recording();
    engine.subscribe(a, topic);
    const first = await engine.publishAcknowledged(topic, text('once'), false, { id: 'order-17' });
    const again = await engine.publishAcknowledged(topic, text('once'), false, { id: 'order-17' });
    const other = await engine.publishAcknowledged(topic, text('other'), false, { id: 'order-18' });
    assert.deepEqual(again, { epoch: first.epoch, offset: first.offset, duplicate: true });
    assert.equal(other.offset, first.offset + 1);
    await a.until(2);
    await sleep(20);
    assert.deepEqual(a.texts(), ['once', 'other']);
    await assert.rejects(engine.publishAcknowledged(topic, text('x'), false, { id: '' }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    await engine.close();
  });

  it('recovers what a subscriber missed after its position, in order', async () => {
    const engine = await engineOf();
    const topic = fresh('history');
    const acks = [];
    for (const word of ['a', 'b', 'c', 'd']) acks.push(await engine.publishAcknowledged(topic, text(word), false));
    const { epoch } = acks[0]!;
    const late = new Recording();
    engine.subscribe(late, topic);
    const result = await engine.recover(topic, { epoch, offset: acks[1]!.offset }, 100);
    assert.equal(result.recovered, true);
    assert.ok(result.recovered);
    assert.deepEqual(result.messages.map((m) => m.data.toString()), ['c', 'd']);
    assert.deepEqual(result.messages.map((m) => m.offset), [acks[2]!.offset, acks[3]!.offset]);
    const none = await engine.recover(topic, { epoch, offset: acks[3]!.offset }, 100);
    assert.ok(none.recovered);
    assert.deepEqual(none.messages, []);
    await engine.close();
  });

  it('refuses a position from another epoch, or ahead of the stream', async () => {
    const engine = await engineOf();
    const topic = fresh('epoch');
    const ack = await engine.publishAcknowledged(topic, text('a'), false);
    const other = await engine.recover(topic, { epoch: 'AAAAAAAAAAA', offset: 1 }, 100);
    assert.deepEqual(other, { recovered: false, reason: 'epoch', epoch: ack.epoch, offset: ack.offset });
    const ahead = await engine.recover(topic, { epoch: ack.epoch, offset: ack.offset + 5 }, 100);
    assert.equal(ahead.recovered, false);
    assert.equal(!ahead.recovered && ahead.reason, 'epoch');
    await engine.close();
  });

  it('says retention when the bounded history no longer reaches the position, or more was missed than the limit', async () => {
    const engine = await engineOf({ historySize: 3 });
    const topic = fresh('retention');
    const acks = [];
    for (let i = 0; i < 6; i++) acks.push(await engine.publishAcknowledged(topic, text(String(i)), false));
    const trimmed = await engine.recover(topic, { epoch: acks[0]!.epoch, offset: acks[0]!.offset }, 100);
    assert.equal(!trimmed.recovered && trimmed.reason, 'retention');
    const kept = await engine.recover(topic, { epoch: acks[0]!.epoch, offset: acks[2]!.offset }, 100);
    assert.ok(kept.recovered);
    assert.deepEqual(kept.messages.map((m) => m.data.toString()), ['3', '4', '5']);
    const overLimit = await engine.recover(topic, { epoch: acks[0]!.epoch, offset: acks[2]!.offset }, 2);
    assert.equal(!overLimit.recovered && overLimit.reason, 'retention');
    await engine.close();
  });

  it('says ttl when the history expired since the position', async () => {
    const engine = await engineOf({ historyTtl: 150 });
    const topic = fresh('ttl');
    const ack = await engine.publishAcknowledged(topic, text('a'), false);
    await engine.publishAcknowledged(topic, text('b'), false);
    await sleep(400);
    const result = await engine.recover(topic, { epoch: ack.epoch, offset: ack.offset }, 100);
    assert.equal(result.recovered, false);
    assert.equal(!result.recovered && result.reason, 'ttl');
    await engine.close();
  });

  it('keeps presence with joins, leaves, members and counts', async () => {
    const engine = await engineOf();
    const topic = fresh('presence');
    const events: PresenceEvent[] = [];
    const stop = engine.presence.watch(topic, (event) => events.push(event));
    await sleep(50); // a broker's watch subscribes in the background
    engine.presence.join(topic, { id: `${engine.instanceId}.1`, data: { name: 'ada' } });
    engine.presence.join(topic, { id: `${engine.instanceId}.2`, data: { name: 'bob' } });
    const deadline = Date.now() + 5_000;
    while ((await engine.presence.count(topic)) < 2 && Date.now() < deadline) await sleep(20);
    assert.equal(await engine.presence.count(topic), 2);
    const members = await engine.presence.members(topic);
    assert.deepEqual(members.map((m) => m.data).sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q))), [{ name: 'ada' }, { name: 'bob' }]);
    engine.presence.leave(topic, `${engine.instanceId}.1`);
    while ((await engine.presence.count(topic)) > 1 && Date.now() < deadline) await sleep(20);
    assert.equal(await engine.presence.count(topic), 1);
    while (events.length < 3 && Date.now() < deadline) await sleep(20);
    assert.deepEqual(events.map((e) => `${e.type}:${(e.member.data as { name: string }).name}`), ['join:ada', 'join:bob', 'leave:ada']);
    stop();
    await engine.close();
  });

  it('drops every subscription when closed, and resolves', async () => {
    const engine = await engineOf();
    const a = new Recording();
    engine.subscribe(a, 'x');
    await engine.close();
    assert.equal(engine.subscriberCount('x'), 0);
    assert.deepEqual(a.got, []);
  });
}
