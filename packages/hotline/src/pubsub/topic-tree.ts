import type { SendResult } from '../types.js';
import type { SharedDeflation } from '../websocket/shared-deflate.js';

/**
 * Topics → subscribers and subscriber → topics, both ways, so that a publish walks only
 * the topic's subscribers and a closing peer leaves all its topics in one pass.
 */

/** One published message, shared by every subscriber: a WebSocket frame is built once. */
export interface Publication {
  readonly data: Buffer;
  readonly isBinary: boolean;
  /** Filled by the first WebSocket subscriber, reused by the rest. */
  frame?: Buffer;
  /**
   * Compressed once per window size for the WebSocket subscribers without context
   * takeover (RFC 7692 §7.1.1.1); started by the first such subscriber.
   */
  deflations?: SharedDeflation[];
}

export interface Subscriber {
  /** Delivers a published message over this subscriber's transport. */
  deliver(publication: Publication): SendResult;
}

export class TopicTree {
  private readonly topics = new Map<string, Set<Subscriber>>();
  private readonly bySubscriber = new Map<Subscriber, Set<string>>();

  subscribe(subscriber: Subscriber, topic: string): boolean {
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

  unsubscribe(subscriber: Subscriber, topic: string): boolean {
    const members = this.topics.get(topic);
    if (members === undefined || !members.delete(subscriber)) return false;
    if (members.size === 0) this.topics.delete(topic);
    const topics = this.bySubscriber.get(subscriber)!;
    topics.delete(topic);
    if (topics.size === 0) this.bySubscriber.delete(subscriber);
    return true;
  }

  /** Removes a subscriber from every topic (on close). */
  removeSubscriber(subscriber: Subscriber): void {
    const topics = this.bySubscriber.get(subscriber);
    if (topics === undefined) return;
    for (const topic of topics) {
      const members = this.topics.get(topic)!;
      members.delete(subscriber);
      if (members.size === 0) this.topics.delete(topic);
    }
    this.bySubscriber.delete(subscriber);
  }

  isSubscribed(subscriber: Subscriber, topic: string): boolean {
    return this.topics.get(topic)?.has(subscriber) ?? false;
  }

  topicsOf(subscriber: Subscriber): string[] {
    const topics = this.bySubscriber.get(subscriber);
    return topics === undefined ? [] : [...topics];
  }

  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /**
   * Delivers to every subscriber of `topic` except `except`. Returns how many took the
   * message (sent or buffered); a subscriber over its limits refuses it (`dropped`), is not
   * counted, and is passed to `onDropped` when given.
   */
  publish(topic: string, publication: Publication, except?: Subscriber, onDropped?: (subscriber: Subscriber) => void): number {
    const members = this.topics.get(topic);
    if (members === undefined) return 0;
    let delivered = 0;
    for (const member of members) {
      if (member === except) continue;
      if (member.deliver(publication) !== 'dropped') delivered++;
      else if (onDropped !== undefined) onDropped(member);
    }
    return delivered;
  }
}
