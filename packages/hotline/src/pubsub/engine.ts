import type { PublishedMessage } from './message.js';
import type { Subscriber } from './topic-tree.js';

/**
 * What a server needs from pub/sub, and all it may use of it: the contract between the
 * server (with its peers and HTTP sessions, the subscribers) and an engine that moves
 * publications — in this process (`MemoryEngine`, the default) or across nodes through a
 * broker.
 *
 * Every method but `close` is synchronous and answers for this node: a subscription
 * takes effect locally at once, and `publish` delivers to the local subscribers before it
 * returns, with the count the server hands back from `server.publish`. What crosses the
 * network happens behind those calls, so that no call a handler makes ever waits on a
 * broker.
 *
 * How a broker engine implements it (the next engine; Redis first):
 * - It keeps a `TopicTree<M>` of its local subscribers, exactly as the memory engine
 *   does, and every local call goes to it first.
 * - `subscribe` and `unsubscribe` follow the local counts: the first local subscriber of
 *   a topic subscribes the node to the topic's broker channel, the last one leaving
 *   unsubscribes it. The broker's answer is awaited in the background; a failure is
 *   reported by the engine, never thrown at the peer that subscribed.
 * - `publish` delivers locally as above, then sends an envelope — the engine's instance
 *   id, the topic, `data` and `isBinary` (the `PublishedMessage`), and later the message's
 *   position (epoch, offset) — to the broker, without waiting. `except` and `onDropped`
 *   concern local subscribers only.
 * - A publication arriving from the broker is decoded strictly (a versioned envelope;
 *   anything else is dropped and counted), skipped when it carries the engine's own
 *   instance id (its local delivery is done already), turned into the local message type
 *   by the factory the server gives the engine when it makes it (for the server,
 *   `(data, isBinary) => new Publication(data, isBinary)`), and handed to its local
 *   tree's `publish` with no `except`. Remote publications thus reach WebSocket
 *   subscribers as one shared object, encoded and compressed once per node.
 * - `close` unsubscribes from every channel and ends the broker connection; its promise
 *   settles once that is done.
 *
 * `M` is the server's message type: a `PublishedMessage` that each transport may carry
 * its own per-publish caches on.
 */
export interface PubSubEngine<M extends PublishedMessage> {
  /** Subscribes `subscriber` to `topic`; false if it was subscribed already. */
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
   * Delivers `message` to every subscriber of `topic` on this node but `except`, and to
   * the other nodes' subscribers when there are others. Returns how many local subscribers
   * took it (sent or buffered); each that refused it (`dropped`, over its limits) is not
   * counted and is passed to `onDropped`.
   */
  publish(topic: string, message: M, except?: Subscriber<M>, onDropped?: (subscriber: Subscriber<M>) => void): number;
  /** Ends the engine (the server has closed): every subscription is dropped. */
  close(): Promise<void>;
}
