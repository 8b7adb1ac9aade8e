import { createClient } from 'redis';
import { HotlineError, checkOptions, invalidArgument, invalidState, shown } from '../errors.js';
import type {
  EngineHost,
  EnginePublishOptions,
  NodeDirectory,
  PresenceRegistry,
  PubSubEngine,
  PublishAck,
  RecoveryResult,
} from '../pubsub/engine.js';
import { ENGINE_OPTION_KEYS, type EngineOptions, type ResolvedEngineOptions, checkPublishId, resolveEngineOptions } from '../pubsub/engine-options.js';
import type { PublishedMessage } from '../pubsub/message.js';
import type { StreamPosition } from '../protocol/position.js';
import { decideRecovery, newEpoch, newInstanceId } from '../pubsub/stream.js';
import { type Subscriber, TopicTree } from '../pubsub/topic-tree.js';
import { decodeBrokerPublication, origin, parseOrigin } from './broker-envelope.js';
import { Commands, type RedisClientLike, text, unavailable } from './commands.js';
import { Keys } from './keys.js';
import { RedisNodeDirectory } from './node-directory.js';
import { RedisPresence } from './presence.js';
import { type Answer, type History, RecoveryReads } from './recovery-reads.js';
import { PUBLISH, READ, Script } from './scripts.js';
import { type FeedEntry, TopicFeed } from './topic-feed.js';

export interface RedisEngineOptions extends EngineOptions {
  /** Where Redis is (`redis://host:port`, `rediss://` for TLS). Default `redis://127.0.0.1:6379`. Not with `client`. */
  url?: string;
  /**
   * A node-redis client of your own (`createClient(...)`), connected or not: the engine
   * publishes through it, subscribes through a `duplicate()` of it, and leaves it open
   * when it closes. Not with `url`.
   */
  client?: unknown;
  /** What every key and channel starts with. Default `hotline:`. */
  prefix?: string;
  /** ms a command (a publish, a history read) may wait for Redis before it fails. Default 5,000. */
  commandTimeout?: number;
}

const OWN_KEYS = ['url', 'client', 'prefix', 'commandTimeout'] as const;
const PUBLISHING = new Script(PUBLISH);
const READING = new Script(READ);
/** How long a topic's epoch and offset outlive its last publish: far past its history and keys. */
const META_TTL_FLOOR = 86_400_000;
/** Longest a local publish's `except`/`onDropped` is kept waiting for the message to come back. */
const PENDING_TTL = 30_000;
/** ms between attempts to fill a gap while Redis does not answer. */
const FILL_RETRY = 250;
/**
 * ms a recovery read goes on answering the recoveries of its topic (extended by the live
 * feed): a reconnect storm then costs a few reads per topic and node, whatever the number
 * of clients. Short next to any history TTL, so what it answers was in Redis a moment ago.
 */
const RECOVERY_REUSE = 1_000;

/** A topic this node listens to on Redis: its channel, its ordered feed, its subscription. */
interface Listening {
  readonly channel: string;
  readonly feed: TopicFeed;
  readonly onMessage: (message: Buffer) => void;
  /** Settles once Redis acknowledged the SUBSCRIBE: the live feed is established. */
  readonly subscribed: Promise<void>;
  /** Local publishes waiting for `subscribed`, so that this node sees what it publishes after subscribing. */
  gate: Promise<void> | null;
  /** The topic's recovery reads, coalesced (a reconnect storm's clients share them). */
  readonly recoveries: RecoveryReads;
}

/**
 * The engine of nodes that share a standalone Redis (7 or later): every publish is one
 * script (the offset, the history entry and the fan-out, atomically), every node listens
 * on the channels of the topics its subscribers follow, and delivers what comes back in
 * offset order, filling holes from the history stream (`TopicFeed`). Presence and the
 * node directory live in Redis too, with TTLs that the living nodes refresh.
 *
 *     const engine = new RedisEngine({ url: 'redis://127.0.0.1:6379' });
 *     await engine.connect();
 *     const server = new Server({ engine });
 *
 * Two connections per node: one for commands, one in subscriber mode. A link that
 * drops is re-established by the client, which subscribes again; the engine then fills
 * what was published meanwhile from history before it delivers further.
 */
export class RedisEngine<M extends PublishedMessage = PublishedMessage> implements PubSubEngine<M> {
  readonly instanceId = newInstanceId();
  readonly presence: PresenceRegistry;
  readonly nodes: NodeDirectory;
  private readonly options: ResolvedEngineOptions;
  private readonly keys: Keys;
  private readonly metaTtl: number;
  private readonly commands: Commands;
  private readonly commandTimeout: number;
  private readonly subscriber: RedisClientLike;
  private readonly ownsClient: boolean;
  private readonly tree = new TopicTree<M>();
  private readonly listening = new Map<string, Listening>();
  /** Local publishes with `except`/`onDropped`, by tag, until their message comes back. */
  private readonly pending = new Map<number, { except?: Subscriber<M>; onDropped?: (subscriber: Subscriber<M>) => void; at: number }>();
  private readonly presenceRegistry: RedisPresence;
  private readonly directory: RedisNodeDirectory;
  private readonly retrying = new Set<TopicFeed>();
  private tag = 0;
  private host: EngineHost<M> | null = null;
  private connected: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed: Promise<void> | null = null;
  /** Links that are down and were reported so (one report per outage, not per retry). */
  private readonly down = new Set<string>();
  private subscriberWasReady = false;
  /** Fire-and-forget publishes that failed, and whether the last publish failed (the outage was reported). */
  private droppedCount = 0;
  private publishing: 'ok' | 'failing' = 'ok';
  /** `recoveryReads` of topics no longer listened to. */
  private recoveryReadsOfGone = 0;

  constructor(options: RedisEngineOptions = {}) {
    checkOptions(options, [...ENGINE_OPTION_KEYS, ...OWN_KEYS], 'the Redis engine options');
    const { url, client, prefix = 'hotline:', commandTimeout = 5_000, ...engineOptions } = options;
    this.options = resolveEngineOptions(engineOptions, 'the Redis engine options');
    if (typeof prefix !== 'string') throw invalidArgument(`the Redis engine options: prefix must be a string (got ${shown(prefix)})`);
    if (!Number.isSafeInteger(commandTimeout) || commandTimeout < 1) throw invalidArgument(`the Redis engine options: commandTimeout must be an integer ≥ 1 (got ${shown(commandTimeout)})`);
    if (url !== undefined && client !== undefined) throw invalidArgument('the Redis engine options: give url or client, not both');
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) throw invalidArgument(`the Redis engine options: url must be a redis:// or rediss:// URL (got ${shown(url)})`);
    if (client !== undefined && !isClient(client)) throw invalidArgument(`the Redis engine options: client must be a node-redis client (createClient from 'redis') (got ${shown(client)})`);
    this.keys = new Keys(prefix);
    this.metaTtl = Math.max(META_TTL_FLOOR, 2 * this.options.historyTtl, 2 * this.options.dedupWindow);
    const commandClient = (client as RedisClientLike | undefined) ?? (createClient({ url: url ?? 'redis://127.0.0.1:6379' }) as unknown as RedisClientLike);
    this.ownsClient = client === undefined;
    this.subscriber = commandClient.duplicate();
    this.commands = new Commands(commandClient, commandTimeout);
    this.commandTimeout = commandTimeout;
    this.watchLink(commandClient, 'commands');
    this.watchLink(this.subscriber, 'subscriptions');
    const report = (error: Error) => this.report(error);
    this.presenceRegistry = new RedisPresence(
      this.commands,
      this.keys,
      {
        listen: (channel, listener) => void this.subscriber.subscribe(channel, listener, true).catch((error) => report(unavailable(`subscribing to ${channel}`, error))),
        unlisten: (channel, listener) => void this.subscriber.unsubscribe(channel, listener, true).catch(() => undefined),
      },
      this.options.presenceTtl,
      report,
    );
    this.presence = this.presenceRegistry;
    this.directory = new RedisNodeDirectory(this.commands, this.keys, this.instanceId, this.options.presenceTtl, report);
    this.nodes = this.directory;
  }

  /**
   * Opens the two connections; resolves once both are ready. Rejects
   * (`HL_ERR_ENGINE_UNAVAILABLE`) at the first failed attempt, or when Redis has not
   * answered within `commandTimeout`: a node must not hang at boot on a Redis that is not
   * there. The connections keep trying in the background (a Redis that comes up later is
   * joined, and `connect()` may be called again); `close()` stops them. Calls before it
   * resolves wait in the client's queue. `bind` calls it if you did not.
   */
  connect(): Promise<void> {
    this.connected ??= Promise.all([ready(this.commands.client, this.commandTimeout), ready(this.subscriber, this.commandTimeout)]).then(
      () => undefined,
      (error: unknown) => {
        this.connected = null;
        throw unavailable('connecting', error);
      },
    );
    return this.connected;
  }

  bind(host: EngineHost<M>): void {
    if (this.host !== null) throw invalidState('an engine serves one server');
    this.host = host;
    this.connect().catch((error) => this.report(error));
    const every = Math.max(100, Math.floor(this.options.presenceTtl / 3));
    this.refreshTimer = setInterval(() => this.refresh(), every);
    this.refreshTimer.unref();
  }

  subscribe(subscriber: Subscriber<M>, topic: string): boolean {
    if (!this.tree.subscribe(subscriber, topic)) return false;
    if (!this.listening.has(topic)) this.listen(topic);
    return true;
  }

  unsubscribe(subscriber: Subscriber<M>, topic: string): boolean {
    if (!this.tree.unsubscribe(subscriber, topic)) return false;
    if (this.tree.subscriberCount(topic) === 0) this.unlisten(topic);
    return true;
  }

  unsubscribeAll(subscriber: Subscriber<M>): void {
    const topics = this.tree.topicsOf(subscriber);
    this.tree.unsubscribeAll(subscriber);
    for (const topic of topics) if (this.tree.subscriberCount(topic) === 0) this.unlisten(topic);
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

  /**
   * Fire and forget: a publish Redis does not take is counted (`droppedPublishes`) and
   * reported once per outage — the first failure warns, the next ones are only counted
   * until a publish goes through again — so that an outage under load does not turn into
   * one warning per publish.
   */
  publish(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): number {
    this.send(topic, data, isBinary, options).catch((error: Error) => this.dropped(error));
    const except = options?.except;
    const count = this.tree.subscriberCount(topic);
    return except !== undefined && this.tree.isSubscribed(except, topic) ? count - 1 : count;
  }

  publishAcknowledged(topic: string, data: Buffer, isBinary: boolean, options?: EnginePublishOptions<M>): Promise<PublishAck> {
    return this.send(topic, data, isBinary, options);
  }

  /** Fire-and-forget publishes Redis did not take (its link was down, or it did not answer in time), since the engine started. */
  get droppedPublishes(): number {
    return this.droppedCount;
  }

  private dropped(error: Error): void {
    if ((error as HotlineError).code !== 'HL_ERR_ENGINE_UNAVAILABLE') return this.report(error);
    this.droppedCount++;
    if (this.publishing === 'failing') return;
    this.publishing = 'failing';
    const message = `${error.message}; publishes are dropped until Redis takes one again (${this.droppedCount} dropped so far: engine.droppedPublishes)`;
    this.report(new HotlineError('HL_ERR_ENGINE_UNAVAILABLE', message, { cause: error }));
  }

  private send(topic: string, data: Buffer, isBinary: boolean, options: EnginePublishOptions<M> | undefined): Promise<PublishAck> {
    if (this.host === null) return Promise.reject(invalidState('the engine is not bound to a server'));
    if (this.closed !== null) return Promise.reject(invalidState('the engine is closed'));
    const id = options?.id;
    try {
      checkPublishId(id);
    } catch (error) {
      return Promise.reject(error);
    }
    const { except, onDropped } = options ?? {};
    const tag = except !== undefined || onDropped !== undefined ? ++this.tag : 0;
    if (tag !== 0) this.pending.set(tag, { except, onDropped, at: Date.now() });
    const keys = [this.keys.meta(topic), this.keys.stream(topic)];
    if (id !== undefined) keys.push(this.keys.idempotency(topic, id));
    const { historySize, historyTtl, dedupWindow } = this.options;
    const args = [data, isBinary ? 'b' : 't', newEpoch(), historySize, historyTtl, this.metaTtl, dedupWindow, this.keys.channel(topic), origin(this.instanceId, tag)];
    const go = () => this.commands.run(PUBLISHING, keys, args);
    const listening = this.listening.get(topic);
    let reply: Promise<unknown>;
    if (listening?.gate != null) {
      // Subscribed here, not yet acknowledged: publish behind it, so the message comes back to this node.
      reply = listening.gate.then(go);
      const gate = reply.then(
        () => undefined,
        () => undefined,
      );
      listening.gate = gate;
      void gate.then(() => {
        if (listening.gate === gate) listening.gate = null;
      });
    } else {
      reply = go();
    }
    return reply.then(
      (value) => {
        const [epoch, offset, duplicate] = value as [Buffer, number, number];
        this.publishing = 'ok';
        if (duplicate === 1 && tag !== 0) this.pending.delete(tag);
        return { epoch: text(epoch), offset: Number(offset), duplicate: duplicate === 1 };
      },
      (error) => {
        if (tag !== 0) this.pending.delete(tag);
        throw unavailable(`publish on ${topic}`, error);
      },
    );
  }

  /**
   * Recovery of a topic this node listens to goes through its coalesced reads
   * (`RecoveryReads`): concurrent recoveries share one READ. Any other is read alone.
   */
  async recover(topic: string, since: StreamPosition, limit: number): Promise<RecoveryResult<M>> {
    const listening = this.listening.get(topic);
    await listening?.subscribed;
    let answer: Answer;
    if (listening !== undefined && this.listening.get(topic) === listening) {
      answer = await listening.recoveries.recover(since, limit);
    } else {
      const history = await this.readWithin(topic, since.epoch, since.offset + 1, limit + 1);
      answer = { epoch: history.epoch, offset: history.seq, oldest: history.oldest, expired: history.expired, entries: history.entries };
    }
    return decideRecovery(since, answer, () => answer.entries.map((entry) => this.message(topic, entry)), limit);
  }

  /** READs sent for recoveries, coalesced ones counted once (for tests and diagnostics). */
  get recoveryReads(): number {
    let sent = this.recoveryReadsOfGone;
    for (const { recoveries } of this.listening.values()) sent += recoveries.sent;
    return sent;
  }

  /**
   * A history read for a recovery, given `commandTimeout` to succeed: node-redis fails the
   * commands it queued as soon as one reconnection attempt fails, long before the deadline,
   * and a client told "not recovered" for a link back within a second would refetch for nothing.
   */
  private async readWithin(topic: string, epoch: string | undefined, from: number, count: number) {
    const deadline = Date.now() + this.commandTimeout;
    for (;;) {
      try {
        return await this.read(topic, epoch, from, undefined, count);
      } catch (error) {
        if (this.closed !== null || Date.now() + FILL_RETRY >= deadline) throw unavailable(`recovering ${topic}`, error);
        await new Promise((resolve) => setTimeout(resolve, FILL_RETRY));
      }
    }
  }

  /** A topic's stream from Redis: its position, what it keeps, and the entries asked for (when `epoch` is its epoch). */
  private async read(topic: string, epoch: string | undefined, from: number, to: number | undefined, count: number): Promise<History> {
    const reply = (await this.commands.run(
      READING,
      [this.keys.meta(topic), this.keys.stream(topic)],
      [newEpoch(), this.metaTtl, from, to === undefined ? '+' : to, count, epoch ?? ''],
    )) as [Buffer, number, number, number, [Buffer, Buffer[]][]];
    const [current, seq, oldest, exists, raw] = reply;
    const currentEpoch = text(current);
    // Entries up to the stream's end, or fewer than asked: nothing after them was left out.
    const lastId = raw.length === 0 ? undefined : /^([0-9]+)-/.exec(text(raw[raw.length - 1]![0]))?.[1];
    const complete = raw.length < count || (lastId !== undefined && Number(lastId) >= Number(seq));
    const entries: FeedEntry[] = [];
    for (const [id, fields] of raw) {
      const entry = streamEntry(currentEpoch, id, fields);
      if (entry === undefined) this.report(new HotlineError('HL_ERR_INVALID_ENVELOPE', `a history entry of ${topic} does not decode`));
      else entries.push(entry);
    }
    // No stream for a topic with publications and a history: it expired (its TTL).
    const expired = seq > 0 && exists === 0 && this.options.historySize > 0;
    return { epoch: currentEpoch, seq: Number(seq), oldest: Number(oldest), expired, entries, asked: epoch ?? '', from, complete };
  }

  // ---- Live feeds ---------------------------------------------------------------------------

  private listen(topic: string): void {
    const channel = this.keys.channel(topic);
    const feed: TopicFeed = new TopicFeed({
      deliver: (entry) => {
        // Before anyone sees it: a recovery answered meanwhile reaches exactly the feed's position.
        recoveries.delivered(entry);
        this.deliver(topic, entry);
      },
      fetch: (from, to) => this.fill(topic, feed, from, to),
    });
    const onMessage = (message: Buffer) => {
      let decoded;
      try {
        decoded = decodeBrokerPublication(message);
      } catch (error) {
        // Dropped; the next publication shows the hole, and the feed fills it from history.
        return this.report(error as Error);
      }
      feed.live(decoded);
    };
    const subscribed = this.subscriber.subscribe(channel, onMessage, true).catch((error) => this.report(unavailable(`subscribing to ${topic}`, error)));
    const recoveries = new RecoveryReads({
      read: (epoch, from, count) => this.readWithin(topic, epoch, from, count),
      feed,
      historySize: this.options.historySize,
      reuse: Math.min(RECOVERY_REUSE, Math.floor(this.options.historyTtl / 2)),
    });
    const listening: Listening = { channel, feed, onMessage, subscribed, gate: null, recoveries };
    const gate = subscribed.then(() => {
      if (listening.gate === gate) listening.gate = null;
    });
    listening.gate = gate;
    this.listening.set(topic, listening);
  }

  private unlisten(topic: string): void {
    const listening = this.listening.get(topic);
    if (listening === undefined) return;
    this.listening.delete(topic);
    this.recoveryReadsOfGone += listening.recoveries.sent;
    this.retrying.delete(listening.feed);
    this.subscriber.unsubscribe(listening.channel, listening.onMessage, true).catch(() => undefined);
  }

  private fill(topic: string, feed: TopicFeed, from: number, to: number | undefined): void {
    const count = to === undefined ? this.options.historySize : Math.min(this.options.historySize, to - from + 1);
    this.read(topic, feed.epoch, from, to, count).then(
      (history) => {
        if (this.listening.get(topic)?.feed === feed) feed.filled(history.epoch, history.entries);
      },
      (error) => {
        this.report(unavailable(`filling a gap on ${topic}`, error));
        this.retrying.add(feed);
        this.retryTimer ??= setTimeout(() => this.retryFills(), FILL_RETRY);
        this.retryTimer.unref();
      },
    );
  }

  private retryFills(): void {
    this.retryTimer = null;
    const feeds = [...this.retrying];
    this.retrying.clear();
    for (const feed of feeds) feed.retry();
  }

  private deliver(topic: string, entry: FeedEntry): void {
    let except: Subscriber<M> | undefined;
    let onDropped: ((subscriber: Subscriber<M>) => void) | undefined;
    if (entry.tag !== 0 && entry.instanceId === this.instanceId) {
      const pending = this.pending.get(entry.tag);
      this.pending.delete(entry.tag);
      except = pending?.except;
      onDropped = pending?.onDropped;
    }
    this.tree.publish(topic, this.message(topic, entry), except, onDropped);
  }

  private message(topic: string, entry: FeedEntry): M {
    return this.host!.message(topic, entry.data, entry.isBinary, entry.epoch, entry.offset);
  }

  // ---- Links, timers, close -----------------------------------------------------------------

  private watchLink(client: RedisClientLike, name: string): void {
    client.on('error', (error: Error) => {
      if (this.down.has(name) || this.closed !== null) return;
      this.down.add(name);
      this.report(unavailable(`the ${name} link`, error));
    });
    client.on('ready', () => {
      this.down.delete(name);
      if (client !== this.subscriber) {
        // Redis may be back empty (restarted without persistence): list this node and its
        // members again now, not at the next refresh, or the other nodes answer its HTTP
        // sessions as unknown until then.
        if (this.host !== null && this.closed === null) this.refresh();
        return this.retryFills();
      }
      // Subscribed again (the client resubscribes before it is ready): fill what went by.
      if (this.subscriberWasReady) for (const { feed } of this.listening.values()) feed.resume();
      this.subscriberWasReady = true;
    });
  }

  private refresh(): void {
    const now = Date.now();
    for (const [tag, pending] of this.pending) if (now - pending.at > PENDING_TTL) this.pending.delete(tag);
    Promise.all([this.presenceRegistry.refresh(), this.directory.refresh()]).catch((error) => this.report(unavailable('refreshing presence', error)));
  }

  private report(error: Error): void {
    this.host?.error(error);
  }

  /** Leaves presence and the directory, unsubscribes, and closes the connections it opened. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.tree.clear();
      this.retrying.clear();
      for (const topic of [...this.listening.keys()]) this.unlisten(topic);
      if (this.connected !== null) {
        await Promise.allSettled([this.presenceRegistry.close(), this.directory.close()]);
      }
      await quit(this.subscriber);
      if (this.ownsClient) await quit(this.commands.client);
    })();
    return this.closed;
  }
}

/** Resolves when `client` is ready; rejects at its first error or after `timeout` ms. Opens it if it is not. */
function ready(client: RedisClientLike, timeout: number): Promise<void> {
  if (client.isReady) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', done);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onReady = () => done();
    const timer = setTimeout(done, timeout, new Error(`no answer within ${timeout} ms`));
    client.on('ready', onReady);
    client.on('error', done);
    if (!client.isOpen) client.connect().catch(done);
  });
}

/** Closes a connection gracefully, or drops it when Redis does not answer in time. */
async function quit(client: RedisClientLike): Promise<void> {
  if (!client.isOpen) return;
  const timer = setTimeout(() => client.destroy(), 1_000);
  try {
    await client.close();
  } catch {
    client.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/** A stream entry (`<offset>-0`, fields d, b, o) as a feed entry; undefined when malformed. */
function streamEntry(epoch: string, id: Buffer, fields: Buffer[]): FeedEntry | undefined {
  const match = /^([1-9][0-9]*)-0$/.exec(text(id));
  if (match === null) return undefined;
  let data: Buffer | undefined;
  let flag: string | undefined;
  let from: ReturnType<typeof parseOrigin>;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = text(fields[i]);
    if (name === 'd') data = fields[i + 1];
    else if (name === 'b') flag = text(fields[i + 1]);
    else if (name === 'o') from = parseOrigin(text(fields[i + 1]));
  }
  if (data === undefined || (flag !== 't' && flag !== 'b') || from === undefined) return undefined;
  return { epoch, offset: Number(match[1]), isBinary: flag === 'b', data, instanceId: from.instanceId, tag: from.tag };
}

function isClient(value: unknown): value is RedisClientLike {
  const client = value as Partial<RedisClientLike> | null;
  return typeof client === 'object' && client !== null && typeof client.sendCommand === 'function' && typeof client.duplicate === 'function' && typeof client.subscribe === 'function';
}
