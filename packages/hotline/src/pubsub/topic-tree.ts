import type { SendResult } from '../types.js';

/**
 * Topics → subscribers and subscriber → topics, both ways, so that a publish walks only
 * the topic's subscribers and a closing peer leaves all its topics in one pass (the
 * shape of uWebSockets' TopicTree). It carries messages of any type `M` and never looks
 * inside them: one object per publish is handed to every subscriber, and whatever a
 * transport derives from it (a WebSocket frame, a compression) is that transport's to
 * cache on the object.
 */

export interface Subscriber<M = unknown> {
  /** Delivers a published message over this subscriber's transport. */
  deliver(message: M): SendResult;
}

export class TopicTree<M> {
  private readonly topics = new Map<string, Set<Subscriber<M>>>();
  private readonly bySubscriber = new Map<Subscriber<M>, Set<string>>();

  /** Returns false if `subscriber` was subscribed to `topic` already. */
  subscribe(subscriber: Subscriber<M>, topic: string): boolean {
    let members = this.topics.get(topic);
    if (members === undefined) {
      members = new Set();
      this.topics.set(topic, members);
    }
    if (members.has(subscriber)) return false;
    members.add(subscriber);
    let topics = this.bySubscriber.get(subscriber);
    if (topics === undefined) {
      topics = new Set();
      this.bySubscriber.set(subscriber, topics);
    }
    topics.add(topic);
    return true;
  }

  /** Returns false if `subscriber` was not subscribed to `topic`. */
  unsubscribe(subscriber: Subscriber<M>, topic: string): boolean {
    const members = this.topics.get(topic);
    if (members === undefined || !members.delete(subscriber)) return false;
    if (members.size === 0) this.topics.delete(topic);
    const topics = this.bySubscriber.get(subscriber)!;
    topics.delete(topic);
    if (topics.size === 0) this.bySubscriber.delete(subscriber);
    return true;
  }

  /** Removes a subscriber from every topic (on close). */
  unsubscribeAll(subscriber: Subscriber<M>): void {
    const topics = this.bySubscriber.get(subscriber);
    if (topics === undefined) return;
    for (const topic of topics) {
      const members = this.topics.get(topic)!;
      members.delete(subscriber);
      if (members.size === 0) this.topics.delete(topic);
    }
    this.bySubscriber.delete(subscriber);
  }

  /** Forgets every subscription at once. */
  clear(): void {
    this.topics.clear();
    this.bySubscriber.clear();
  }

  isSubscribed(subscriber: Subscriber<M>, topic: string): boolean {
    return this.topics.get(topic)?.has(subscriber) ?? false;
  }

  topicsOf(subscriber: Subscriber<M>): string[] {
    const topics = this.bySubscriber.get(subscriber);
    return topics === undefined ? [] : [...topics];
  }

  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /** Topics with at least one subscriber: an empty topic is never kept. */
  get topicCount(): number {
    return this.topics.size;
  }

  /** Subscribers with at least one topic: one that left its last topic is forgotten. */
  get subscribedCount(): number {
    return this.bySubscriber.size;
  }

  /**
   * Delivers to every subscriber of `topic` except `except`. Returns how many took the
   * message (sent or buffered); a subscriber over its limits refuses it (`dropped`), is not
   * counted, and is passed to `onDropped` when given.
   *
   * A subscriber may leave the topic while it is being delivered to (a Set's iteration
   * skips what was deleted and visits each remaining member once).
   */
  publish(topic: string, message: M, except?: Subscriber<M>, onDropped?: (subscriber: Subscriber<M>) => void): number {
    const members = this.topics.get(topic);
    if (members === undefined) return 0;
    let delivered = 0;
    for (const member of members) {
      if (member === except) continue;
      if (member.deliver(message) !== 'dropped') delivered++;
      else if (onDropped !== undefined) onDropped(member);
    }
    return delivered;
  }
}
