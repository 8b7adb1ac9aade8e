import type { PublishedMessage } from './message.js';
import type { RecoveryReason, StreamPosition } from '../protocol/position.js';
import type { Subscriber } from './topic-tree.js';

/**
 * What a server needs from pub/sub, and all it may use of it: the contract between the
 * server (with its peers and HTTP sessions, the subscribers) and an engine that orders
 * and moves publications — in this process (`MemoryEngine`, the default) or across nodes
 * through a broker (`RedisEngine`, `hotline/redis`). Small on purpose, so that another
 * broker (NATS JetStream is the next candidate) fits behind it.
 *
 * Semantics every engine keeps:
 * - **Order and positions.** Every publication on a topic gets the topic's current epoch
 *   and the next offset (1, 2, ...), and every node delivers a topic's publications in
 *   offset order, without holes: a node that sees an offset jump, or loses its broker
 *   link, fills the gap from history before it delivers further. When it cannot (the
 *   history is gone), it delivers on, and the jump is visible to clients by position.
 * - **History.** The last `historySize` publications of a topic are kept for
 *   `historyTtl` ms after the topic's last publish, so that a subscriber that comes back
 *   with a position gets what it missed (`recover`).
 * - **Local calls are synchronous.** `subscribe`, `unsubscribe` and the queries answer
 *   for this node at once; whatever the broker must learn of them is sent in the
 *   background, and a failure there is reported to `EngineHost.error`, never thrown at
 *   the peer that subscribed.
 * - **Delivery.** A publication reaches local subscribers through `Subscriber.deliver`
 *   with one message object per node (made by `EngineHost.message`), so WebSocket
 *   subscribers share one encoding of it.
 *
 * `M` is the server's message type: a `PublishedMessage` that each transport may carry
 * its own per-publish caches on.
 */
export interface PubSubEngine<M extends PublishedMessage> {
  /**
   * This engine's id among the nodes sharing a broker: base64url, 8 to 16 characters,
   * unique per process start. It prefixes the ids of the HTTP sessions this node owns, so
   * that another node can route their requests here (`NodeDirectory`).
   */
  readonly instanceId: string;

  /** Called once, by the server that uses the engine, before any other call. */
  bind(host: EngineHost<M>): void;

  /** Subscribes `subscriber` to `topic` on this node; false if it was subscribed already. */
  subscribe(subscriber: Subscriber<M>, topic: string): boolean;
  /** Unsubscribes `subscriber` from `topic`; false if it was not subscribed. */
  unsubscribe(subscriber: Subscriber<M>, topic: string): boolean;
  /** Unsubscribes `subscriber` from every topic (it has closed). */
  unsubscribeAll(subscriber: Subscriber<M>): void;
  isSubscribed(subscriber: Subscriber<M>, topic: string): boolean;
  /** The topics `subscriber` is subscribed to, in the order it subscribed. */
  topicsOf(subscriber: Subscriber<M>): string[];
  /** Subscribers of `topic` on this node. */
  subscriberCount(topic: string): number;

  /**
   * Publishes without waiting. The memory engine orders and delivers before it returns,
   * and returns how many local subscribers took the message (sent or buffered); a broker
   * engine delivers once the broker has ordered it, and returns how many local
   * subscribers the topic has at the call. Each local subscriber that refuses it (over
   * its limits) is passed to `onDropped`; `except` is a local subscriber left out. A
   * publish the broker never acknowledges is reported to `EngineHost.error`.
   */
  publish(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): number;

  /**
   * Publishes and resolves once the publication is ordered and in history (for a broker:
   * acknowledged by it), with its position. With `options.id`, a publish of the same id
   * on the same topic within `dedupWindow` ms is not published again: it resolves with
   * the first one's position and `duplicate: true`. Rejects (`HL_ERR_ENGINE_UNAVAILABLE`)
   * when it cannot be acknowledged; the publication may then or may not have been made.
   */
  publishAcknowledged(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): Promise<PublishAck>;

  /**
   * What `topic` has after `since`, for a subscriber coming back with a position. Call it
   * after `subscribe` for that subscriber: it resolves once this node's live feed of the
   * topic is established, and covers at least every publication the live feed will not
   * bring (it may overlap it; the caller drops offsets it has delivered). At most
   * `limit` publications: more than that missed is `retention`.
   */
  recover(topic: string, since: StreamPosition, limit: number): Promise<RecoveryResult<M>>;

  /** Who is on which topic, across the nodes. */
  readonly presence: PresenceRegistry;
  /** Where the other nodes can be reached (for requests of sessions they own). */
  readonly nodes: NodeDirectory;

  /** Ends the engine (the server has closed): subscriptions, presence and broker links go. */
  close(): Promise<void>;
}

/** What the engine calls back into: how to make a message object, where to report. */
export interface EngineHost<M extends PublishedMessage> {
  /** The local message object for a publication (the server's: a `Publication`). */
  message(topic: string, data: Buffer, isBinary: boolean, epoch: string, offset: number): M;
  /** A failure in the background (a broker link lost, a publish not acknowledged, a bad envelope). */
  error(error: Error): void;
}

export interface EnginePublishOptions<M extends PublishedMessage> {
  except?: Subscriber<M>;
  onDropped?: (subscriber: Subscriber<M>) => void;
  /** Idempotency key: 1 to 128 characters, deduplicated per topic within `dedupWindow`. */
  id?: string;
}

export interface PublishAck extends StreamPosition {
  /** True when `id` had been published already: the position is the first publish's. */
  readonly duplicate: boolean;
}

export type RecoveryResult<M extends PublishedMessage> =
  /** Everything after `since` that the live feed will not bring, in offset order. */
  | { readonly recovered: true; readonly epoch: string; readonly offset: number; readonly messages: readonly M[] }
  /** The history cannot fill the gap; `epoch`/`offset` are the topic's current position. */
  | { readonly recovered: false; readonly reason: RecoveryReason; readonly epoch: string; readonly offset: number };

/** One member of a topic's presence. */
export interface PresenceMember {
  /** Unique across nodes: the owning node's instance id, a dot, and a local id. */
  readonly id: string;
  /** The application's data for it (JSON). */
  readonly data: unknown;
}

export interface PresenceEvent {
  readonly type: 'join' | 'leave';
  readonly topic: string;
  readonly member: PresenceMember;
}

/**
 * Presence: members join and leave a topic's presence; each node keeps its own members
 * alive (a TTL refreshed while the node lives), so that the members of a node that
 * crashed leave after `presenceTtl` ms, with a `leave` event like any other.
 */
export interface PresenceRegistry {
  join(topic: string, member: PresenceMember): void;
  leave(topic: string, memberId: string): void;
  members(topic: string): Promise<PresenceMember[]>;
  count(topic: string): Promise<number>;
  /** Calls `listener` for every join and leave on `topic`, on any node; returns the way to stop. */
  watch(topic: string, listener: (event: PresenceEvent) => void): () => void;
}

/**
 * The nodes sharing a broker, by instance id: each advertises the base URL at which the
 * others reach it (`http://10.0.0.5:8080`), refreshed while it lives.
 */
export interface NodeDirectory {
  advertise(url: string): void;
  /** The URL of the node `instanceId`, or undefined when it is not alive (or unknown). */
  lookup(instanceId: string): Promise<string | undefined>;
}
