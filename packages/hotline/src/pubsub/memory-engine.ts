import { invalidState } from '../errors.js';
import type {
  EngineHost,
  EnginePublishOptions,
  NodeDirectory,
  PresenceEvent,
  PresenceMember,
  PresenceRegistry,
  PubSubEngine,
  PublishAck,
  RecoveryResult,
} from './engine.js';
import { type EngineOptions, type ResolvedEngineOptions, checkPublishId, resolveEngineOptions } from './engine-options.js';
import type { PublishedMessage } from './message.js';
import type { StreamPosition } from '../protocol/position.js';
import { TopicStream, decideRecovery, newInstanceId } from './stream.js';
import { type Subscriber, TopicTree } from './topic-tree.js';

export interface MemoryEngineOptions extends EngineOptions {
  /** @internal The clock (ms), for tests. */
  now?: () => number;
}

/**
 * The engine of a server alone in its process: the topic index is all there is, so a
 * publish is one walk over the topic's subscribers and nothing leaves the process. It
 * keeps the semantics of a broker engine all the same — per-topic epochs and offsets, a
 * bounded history that expires, idempotent publishes, presence — so that an application
 * written against it scales out by changing the engine alone. Its epochs are new with
 * every process: a client that comes back to a restarted server learns it lost history
 * (`recovered: false`, `epoch`).
 */
export class MemoryEngine<M extends PublishedMessage> implements PubSubEngine<M> {
  readonly instanceId = newInstanceId();
  readonly presence: PresenceRegistry = new LocalPresence();
  readonly nodes: NodeDirectory = { advertise() {}, lookup: () => Promise.resolve(undefined) };
  private readonly tree = new TopicTree<M>();
  private readonly streams = new Map<string, TopicStream<M>>();
  /** Per topic: idempotency key → the first publish's position and when it is forgotten. */
  private readonly published = new Map<string, Map<string, { offset: number; until: number }>>();
  private readonly options: ResolvedEngineOptions;
  private readonly now: () => number;
  private host: EngineHost<M> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(options: MemoryEngineOptions = {}) {
    const { now, ...engineOptions } = options;
    this.options = resolveEngineOptions(engineOptions, 'the memory engine options');
    this.now = now ?? Date.now;
  }

  bind(host: EngineHost<M>): void {
    if (this.host !== null) throw invalidState('an engine serves one server');
    this.host = host;
    // Expired histories and idempotency keys go in the background; unref: never keeps the process alive.
    const every = Math.max(1_000, Math.min(this.options.historyTtl, this.options.dedupWindow) / 2);
    this.sweepTimer = setInterval(() => this.sweepExpired(), every);
    this.sweepTimer.unref();
  }

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

  publish(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): number {
    return this.order(topic, data, isBinary, options).delivered;
  }

  publishAcknowledged(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): Promise<PublishAck> {
    try {
      const { epoch, offset, duplicate } = this.order(topic, data, isBinary, options);
      return Promise.resolve({ epoch, offset, duplicate });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Gives the publication its position, keeps it in history and delivers it. */
  private order(topic: string, data: Buffer, isBinary: boolean, options: EnginePublishOptions<M> | undefined): PublishAck & { delivered: number } {
    const host = this.host;
    if (host === null) throw invalidState('the engine is not bound to a server');
    const id = options?.id;
    checkPublishId(id);
    const now = this.now();
    const stream = this.streamOf(topic);
    if (stream.historyLength > 0 && now - stream.lastPublish > this.options.historyTtl) stream.expire();
    if (id !== undefined) {
      const seen = this.published.get(topic)?.get(id);
      if (seen !== undefined && seen.until > now) return { epoch: stream.epoch, offset: seen.offset, duplicate: true, delivered: 0 };
    }
    const offset = ++stream.offset;
    const message = host.message(topic, data, isBinary, stream.epoch, offset);
    stream.append(message, now);
    if (id !== undefined) {
      let keys = this.published.get(topic);
      if (keys === undefined) this.published.set(topic, (keys = new Map()));
      keys.set(id, { offset, until: now + this.options.dedupWindow });
    }
    const delivered = this.tree.publish(topic, message, options?.except, options?.onDropped);
    return { epoch: stream.epoch, offset, duplicate: false, delivered };
  }

  recover(topic: string, since: StreamPosition, limit: number): Promise<RecoveryResult<M>> {
    const stream = this.streamOf(topic);
    const expired = stream.lastPublish > 0 && this.now() - stream.lastPublish > this.options.historyTtl;
    if (expired) stream.expire();
    const view = { epoch: stream.epoch, offset: stream.offset, oldest: stream.oldest, expired };
    return Promise.resolve(decideRecovery(since, view, () => stream.after(since.offset), limit));
  }

  /** The topic's stream, made (with a new epoch) on its first publish or recovery. */
  private streamOf(topic: string): TopicStream<M> {
    let stream = this.streams.get(topic);
    if (stream === undefined) {
      stream = new TopicStream<M>(this.options.historySize);
      this.streams.set(topic, stream);
    }
    return stream;
  }

  /**
   * Drops expired histories and idempotency keys. A stream itself (epoch and offset, a
   * few dozen bytes) stays while the process lives: forgetting it would restart its
   * offsets, which only a new epoch may do.
   */
  private sweepExpired(): void {
    const now = this.now();
    for (const stream of this.streams.values()) {
      if (stream.historyLength > 0 && now - stream.lastPublish > this.options.historyTtl) stream.expire();
    }
    for (const [topic, keys] of this.published) {
      for (const [id, seen] of keys) if (seen.until <= now) keys.delete(id);
      if (keys.size === 0) this.published.delete(topic);
    }
  }

  /** Nothing to release but the index: subscriptions left (there should be none) go. */
  close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.tree.clear();
    return Promise.resolve();
  }
}

/** Presence in one process: members by topic, and the watchers told of every change. */
class LocalPresence implements PresenceRegistry {
  private readonly byTopic = new Map<string, Map<string, PresenceMember>>();
  private readonly watchers = new Map<string, Set<(event: PresenceEvent) => void>>();

  join(topic: string, member: PresenceMember): void {
    let members = this.byTopic.get(topic);
    if (members === undefined) this.byTopic.set(topic, (members = new Map()));
    const known = members.has(member.id);
    members.set(member.id, member);
    if (!known) this.emit({ type: 'join', topic, member });
  }

  leave(topic: string, memberId: string): void {
    const members = this.byTopic.get(topic);
    const member = members?.get(memberId);
    if (member === undefined) return;
    members!.delete(memberId);
    if (members!.size === 0) this.byTopic.delete(topic);
    this.emit({ type: 'leave', topic, member });
  }

  members(topic: string): Promise<PresenceMember[]> {
    return Promise.resolve([...(this.byTopic.get(topic)?.values() ?? [])]);
  }

  count(topic: string): Promise<number> {
    return Promise.resolve(this.byTopic.get(topic)?.size ?? 0);
  }

  watch(topic: string, listener: (event: PresenceEvent) => void): () => void {
    let listeners = this.watchers.get(topic);
    if (listeners === undefined) this.watchers.set(topic, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners!.delete(listener);
      if (listeners!.size === 0) this.watchers.delete(topic);
    };
  }

  private emit(event: PresenceEvent): void {
    for (const listener of this.watchers.get(event.topic) ?? []) listener(event);
  }
}
