import type { PubSubEngine } from './engine.js';
import type { PublishedMessage } from './message.js';
import { type Subscriber, TopicTree } from './topic-tree.js';

/**
 * The engine of a server alone in its process: the topic index is all there is, so a
 * publish is one walk over the topic's subscribers and nothing leaves the process.
 */
export class MemoryEngine<M extends PublishedMessage> implements PubSubEngine<M> {
  private readonly tree = new TopicTree<M>();

  subscribe(subscriber: Subscriber<M>, topic: string): boolean {
    return this.tree.subscribe(subscriber, topic);
  }

  unsubscribe(subscriber: Subscriber<M>, topic: string): boolean {
    return this.tree.unsubscribe(subscriber, topic);
  }

  unsubscribeAll(subscriber: Subscriber<M>): void {
    this.tree.unsubscribeAll(subscriber);
  }

  isSubscribed(subscriber: Subscriber<M>, topic: string): boolean {
    return this.tree.isSubscribed(subscriber, topic);
  }

  topicsOf(subscriber: Subscriber<M>): string[] {
    return this.tree.topicsOf(subscriber);
  }

  subscriberCount(topic: string): number {
    return this.tree.subscriberCount(topic);
  }

  /** Topics with at least one subscriber. */
  get topicCount(): number {
    return this.tree.topicCount;
  }

  publish(topic: string, message: M, except?: Subscriber<M>, onDropped?: (subscriber: Subscriber<M>) => void): number {
    return this.tree.publish(topic, message, except, onDropped);
  }

  /** Nothing to release but the index: subscriptions left (there should be none) go. */
  close(): Promise<void> {
    this.tree.clear();
    return Promise.resolve();
  }
}
