/**
 * The topic index against a model a reader can check by eye: an ordered list of members
 * per topic. Random sequences of subscribe, unsubscribe, unsubscribeAll and publish —
 * some publishes with a member leaving, or removing another, while it is delivered to —
 * must give, at every step, the same answers as the model: who receives each publish,
 * exactly once and in subscription order, the excepted one never, the count of those
 * that took it, the names of those that dropped it, and every subscription count. Once
 * everyone has left, the index holds nothing.
 *
 * Seeds are fixed, plus one new seed per run; a failure names its seed. Replay one with
 * TOPIC_TREE_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Subscriber, TopicTree } from '../../src/pubsub/topic-tree.js';
import type { SendResult } from '../../src/types.js';
import { prng, randomInt } from '../support/bytes.js';

const STEPS = 3000;
const SUBSCRIBERS = 12;
const TOPICS = ['a', 'b', 'c', 'd', 'e', 'f'];

interface Message {
  readonly seq: number;
}

/** What the subscriber does when it is delivered to, set by the step before publishing. */
interface Reaction {
  answer: SendResult;
  /** Leaves this topic on delivery. */
  leave: string | null;
  /** Unsubscribes this other subscriber from `leave`'s topic too. */
  evict: Fake | null;
}

class Fake implements Subscriber<Message> {
  readonly reaction: Reaction = { answer: 'sent', leave: null, evict: null };
  constructor(
    readonly id: number,
    private readonly tree: TopicTree<Message>,
    private readonly log: Array<[number, number]>,
  ) {}

  deliver(message: Message): SendResult {
    this.log.push([message.seq, this.id]);
    const { leave, evict } = this.reaction;
    if (leave !== null) {
      this.tree.unsubscribe(this, leave);
      if (evict !== null) this.tree.unsubscribe(evict, leave);
    }
    return this.reaction.answer;
  }
}

/** Topic → members in the order they subscribed. */
type Model = Map<string, number[]>;

function topicsInModel(model: Model, id: number): string[] {
  return [...model].filter(([, members]) => members.includes(id)).map(([topic]) => topic);
}

function remove<T>(list: T[], item: T): boolean {
  const at = list.indexOf(item);
  if (at === -1) return false;
  list.splice(at, 1);
  return true;
}

/** Order of `topicsOf`: the order a subscriber subscribed, which the model keeps per subscriber. */
function checkAll(tree: TopicTree<Message>, fakes: Fake[], model: Model, order: Map<number, string[]>): void {
  for (const topic of TOPICS) {
    assert.equal(tree.subscriberCount(topic), model.get(topic)!.length, `subscriberCount(${topic})`);
  }
  for (const fake of fakes) {
    const expected = order.get(fake.id)!;
    assert.deepEqual(tree.topicsOf(fake), expected, `topicsOf(${fake.id})`);
    assert.deepEqual([...expected].sort(), topicsInModel(model, fake.id).sort(), 'the model is consistent');
    for (const topic of TOPICS) assert.equal(tree.isSubscribed(fake, topic), expected.includes(topic), `isSubscribed(${fake.id}, ${topic})`);
  }
  assert.equal(tree.topicCount, [...model.values()].filter((members) => members.length > 0).length, 'topicCount: no empty topic kept');
  assert.equal(tree.subscribedCount, [...order.values()].filter((topics) => topics.length > 0).length, 'subscribedCount');
}

function run(seed: number): void {
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[randomInt(random, 0, list.length - 1)]!;
  const tree = new TopicTree<Message>();
  const log: Array<[number, number]> = [];
  const fakes = Array.from({ length: SUBSCRIBERS }, (_, id) => new Fake(id, tree, log));
  const model: Model = new Map(TOPICS.map((topic) => [topic, []]));
  const order = new Map<number, string[]>(fakes.map((fake) => [fake.id, []]));
  let seq = 0;

  const unsubscribeInModel = (id: number, topic: string): boolean => {
    if (!remove(model.get(topic)!, id)) return false;
    remove(order.get(id)!, topic);
    return true;
  };

  for (let step = 0; step < STEPS; step++) {
    const roll = random();
    const fake = pick(fakes);
    const topic = pick(TOPICS);
    if (roll < 0.35) {
      const members = model.get(topic)!;
      const fresh = !members.includes(fake.id);
      assert.equal(tree.subscribe(fake, topic), fresh, `step ${step}: subscribe(${fake.id}, ${topic})`);
      if (fresh) {
        members.push(fake.id);
        order.get(fake.id)!.push(topic);
      }
    } else if (roll < 0.55) {
      assert.equal(tree.unsubscribe(fake, topic), unsubscribeInModel(fake.id, topic), `step ${step}: unsubscribe(${fake.id}, ${topic})`);
    } else if (roll < 0.6) {
      tree.unsubscribeAll(fake);
      for (const t of TOPICS) unsubscribeInModel(fake.id, t);
    } else {
      // A publish, to `topic`, maybe except someone (a member or not).
      const except = random() < 0.4 ? pick(fakes) : undefined;
      for (const f of fakes) {
        const r = random();
        f.reaction.answer = r < 0.15 ? 'dropped' : r < 0.3 ? 'buffered' : 'sent';
        f.reaction.leave = null;
        f.reaction.evict = null;
      }
      const members = [...model.get(topic)!];
      // Someone delivered to (so not the excepted one) leaves while it is.
      const reached = members.filter((id) => fakes[id] !== except);
      let leaver: Fake | null = null;
      if (reached.length > 0 && random() < 0.2) {
        leaver = fakes[pick(reached)]!;
        leaver.reaction.leave = topic;
        leaver.reaction.evict = random() < 0.5 ? fakes[pick(members)]! : null;
      }
      // The expected deliveries, walking the model as the index walks its members.
      const expected: number[] = [];
      const gone = new Set<number>();
      for (const id of members) {
        if (gone.has(id) || fakes[id] === except) continue;
        expected.push(id);
        if (fakes[id] === leaver) {
          gone.add(id);
          if (leaver.reaction.evict !== null) gone.add(leaver.reaction.evict.id);
        }
      }
      const message: Message = { seq: ++seq };
      const dropped: number[] = [];
      log.length = 0;
      const delivered = tree.publish(topic, message, except, (s) => dropped.push((s as Fake).id));
      assert.deepEqual(
        log.map(([s, id]) => (s === message.seq ? id : -1)),
        expected,
        `step ${step}: publish #${message.seq} to ${topic} except ${except?.id ?? 'none'}: each receiver once, in order`,
      );
      const expectedDropped = expected.filter((id) => fakes[id]!.reaction.answer === 'dropped');
      assert.deepEqual(dropped, expectedDropped, `step ${step}: onDropped names those that refused`);
      assert.equal(delivered, expected.length - expectedDropped.length, `step ${step}: the count of those that took it`);
      if (leaver !== null) {
        unsubscribeInModel(leaver.id, topic);
        if (leaver.reaction.evict !== null) unsubscribeInModel(leaver.reaction.evict.id, topic);
        leaver.reaction.leave = null;
        leaver.reaction.evict = null;
      }
    }
    if (step % 50 === 0 || step === STEPS - 1) checkAll(tree, fakes, model, order);
  }

  // Everyone leaves: nothing is left behind.
  for (const fake of fakes) tree.unsubscribeAll(fake);
  assert.equal(tree.topicCount, 0, 'no topic left once everyone has left');
  assert.equal(tree.subscribedCount, 0, 'no subscriber left once everyone has left');
  for (const topic of TOPICS) assert.equal(tree.publish(topic, { seq: ++seq }), 0);
}

const replay = process.env.TOPIC_TREE_SEED;
const seeds = replay !== undefined ? [Number(replay)] : [1, 2, 3, 0xdecafbad, (Date.now() ^ (process.pid << 16)) >>> 0];

describe('TopicTree against a model (property)', () => {
  for (const seed of seeds) {
    it(`agrees with the model over ${STEPS} random steps (seed ${seed})`, () => {
      try {
        run(seed);
      } catch (error) {
        if (error instanceof Error) error.message = `seed ${seed} (replay with TOPIC_TREE_SEED=${seed}): ${error.message}`;
        throw error;
      }
    });
  }
});
