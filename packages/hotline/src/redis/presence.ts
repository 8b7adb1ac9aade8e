import { HotlineError, invalidArgument, shown } from '../errors.js';
import type { PresenceEvent, PresenceMember, PresenceRegistry } from '../pubsub/engine.js';
import { type Commands, text } from './commands.js';
import type { Keys } from './keys.js';
import { PRESENCE_JOIN, PRESENCE_LEAVE, PRESENCE_SWEEP, Script } from './scripts.js';

const JOIN = new Script(PRESENCE_JOIN);
const LEAVE = new Script(PRESENCE_LEAVE);
const SWEEP = new Script(PRESENCE_SWEEP);

/** Where the presence registry listens for joins and leaves (the engine's subscriber connection). */
export interface PresenceFeed {
  listen(channel: string, listener: (message: Buffer) => void): void;
  unlisten(channel: string, listener: (message: Buffer) => void): void;
}

/**
 * Presence across nodes, in Redis: a topic's members in a hash (id → data), their expiries
 * in a sorted set, joins and leaves on a channel. Each node refreshes the expiries of its
 * own members every third of `presenceTtl` (`refresh`), and every sweep drops the members
 * whose node stopped refreshing (it crashed) with a leave event, as if they had left.
 */
export class RedisPresence implements PresenceRegistry {
  /** This node's members, by topic: what `refresh` keeps alive and `close` takes away. */
  private readonly local = new Map<string, Map<string, string>>();
  /**
   * What waits for the end of this event-loop turn, by topic: the joins (id → data) and the
   * `members` asked. In a reconnect storm every returning client joins and asks: one JOIN
   * and one sweep per topic and turn then answer them all. Joins go first, so that whoever
   * joined and asked sees itself.
   */
  private readonly queued = new Map<string, { joins: Map<string, string>; asking: { resolve(members: PresenceMember[]): void; reject(error: unknown): void }[] }>();
  private flushing: NodeJS.Immediate | null = null;
  private readonly watchers = new Map<string, { listeners: Set<(event: PresenceEvent) => void>; onMessage: (message: Buffer) => void }>();

  constructor(
    private readonly commands: Commands,
    private readonly keys: Keys,
    private readonly feed: PresenceFeed,
    private readonly ttl: number,
    private readonly report: (error: Error) => void,
  ) {}

  join(topic: string, member: PresenceMember): void {
    const id = checkMemberId(member?.id);
    const data = JSON.stringify(member.data ?? null);
    let members = this.local.get(topic);
    if (members === undefined) this.local.set(topic, (members = new Map()));
    members.set(id, data);
    this.queue(topic).joins.set(id, data);
  }

  leave(topic: string, memberId: string): void {
    const members = this.local.get(topic);
    if (members?.delete(memberId) && members.size === 0) this.local.delete(topic);
    // What was queued before goes before the leave: a join and a leave in one turn stay in order.
    this.flush(topic);
    this.send(topic, memberId).catch((error) => this.report(failed(`presence leave on ${topic}`, error)));
  }

  members(topic: string): Promise<PresenceMember[]> {
    return new Promise((resolve, reject) => this.queue(topic).asking.push({ resolve, reject }));
  }

  private queue(topic: string) {
    let queued = this.queued.get(topic);
    if (queued === undefined) this.queued.set(topic, (queued = { joins: new Map(), asking: [] }));
    this.flushing ??= setImmediate(() => {
      this.flushing = null;
      for (const topic of [...this.queued.keys()]) this.flush(topic);
    });
    return queued;
  }

  /** Sends what waits for `topic`: its joins in one script, then one sweep for everyone who asked. */
  private flush(topic: string): void {
    const queued = this.queued.get(topic);
    if (queued === undefined) return;
    this.queued.delete(topic);
    const keys = [this.keys.presenceMembers(topic), this.keys.presenceExpiries(topic)];
    if (queued.joins.size > 0) {
      const args: (string | number)[] = [this.keys.presenceChannel(topic), this.ttl];
      for (const [id, data] of queued.joins) args.push(id, data);
      this.commands.run(JOIN, keys, args).catch((error) => this.report(failed(`presence join on ${topic}`, error)));
    }
    if (queued.asking.length === 0) return;
    this.commands.run(SWEEP, keys, [this.keys.presenceChannel(topic), this.ttl, '1']).then(
      (reply) => {
        const list = reply as unknown[];
        const out: PresenceMember[] = [];
        for (let i = 0; i + 1 < list.length; i += 2) out.push({ id: text(list[i]), data: parse(text(list[i + 1])) });
        for (const { resolve } of queued.asking) resolve(out.map((member) => ({ ...member })));
      },
      (error: unknown) => {
        for (const { reject } of queued.asking) reject(error);
      },
    );
  }

  async count(topic: string): Promise<number> {
    return (await this.members(topic)).length;
  }

  watch(topic: string, listener: (event: PresenceEvent) => void): () => void {
    let watch = this.watchers.get(topic);
    if (watch === undefined) {
      const listeners = new Set<(event: PresenceEvent) => void>();
      const onMessage = (message: Buffer) => {
        const event = decodeEvent(topic, message);
        if (event === undefined) return this.report(new HotlineError('HL_ERR_INVALID_ENVELOPE', `a presence event on ${topic} does not decode`));
        for (const each of [...listeners]) each(event);
      };
      this.watchers.set(topic, (watch = { listeners, onMessage }));
      this.feed.listen(this.keys.presenceChannel(topic), onMessage);
    }
    const { listeners } = watch;
    listeners.add(listener);
    return () => {
      if (!listeners.delete(listener) || listeners.size > 0) return;
      this.watchers.delete(topic);
      this.feed.unlisten(this.keys.presenceChannel(topic), watch!.onMessage);
    };
  }

  /**
   * Keeps this node's members alive, and sweeps every topic it has members on or watches,
   * so that a crashed node's members leave (with an event) within a refresh period.
   */
  async refresh(): Promise<void> {
    const topics = new Set([...this.local.keys(), ...this.watchers.keys()]);
    await Promise.all(
      [...topics].map((topic) =>
        this.commands.run(SWEEP, [this.keys.presenceMembers(topic), this.keys.presenceExpiries(topic)], [this.keys.presenceChannel(topic), this.ttl, '0', ...(this.local.get(topic)?.keys() ?? [])]),
      ),
    );
  }

  /** The node stops: its members leave now rather than at their expiry. */
  async close(): Promise<void> {
    for (const topic of [...this.queued.keys()]) this.flush(topic);
    if (this.flushing !== null) clearImmediate(this.flushing);
    this.flushing = null;
    const leaving = [...this.local].flatMap(([topic, members]) => [...members.keys()].map((id) => this.send(topic, id)));
    this.local.clear();
    for (const [topic, watch] of this.watchers) this.feed.unlisten(this.keys.presenceChannel(topic), watch.onMessage);
    this.watchers.clear();
    await Promise.allSettled(leaving);
  }

  private send(topic: string, memberId: string): Promise<unknown> {
    return this.commands.run(LEAVE, [this.keys.presenceMembers(topic), this.keys.presenceExpiries(topic)], [this.keys.presenceChannel(topic), memberId]);
  }
}

/** A member id travels in an event's first line: 1 to 256 characters, no line break. */
function checkMemberId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\r\n]/.test(id)) {
    throw invalidArgument(`a presence member id must be a string of 1 to 256 characters without line breaks (got ${shown(id)})`);
  }
  return id;
}

/** `'j ' id '\n' data` (join) or `'l ' id '\n' data` (leave), as the scripts publish them. */
function decodeEvent(topic: string, message: Buffer): PresenceEvent | undefined {
  const body = message.toString('utf8');
  const end = body.indexOf('\n');
  const kind = body.slice(0, 2);
  if (end < 3 || (kind !== 'j ' && kind !== 'l ')) return undefined;
  const data = parse(body.slice(end + 1));
  if (data === INVALID) return undefined;
  return { type: kind === 'j ' ? 'join' : 'leave', topic, member: { id: body.slice(2, end), data } };
}

const INVALID = Symbol('invalid');

function parse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return INVALID;
  }
}

function failed(what: string, cause: unknown): HotlineError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new HotlineError('HL_ERR_ENGINE_UNAVAILABLE', `${what}: Redis did not answer (${why})`, { cause });
}
