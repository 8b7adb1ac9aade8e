/**
 * One topic's live feed on a node, in order and without holes: what the node received
 * from its Redis channel goes through here before any local subscriber sees it. Pure
 * state, no I/O: the engine feeds it publications (`live`) and history (`filled`), and
 * it answers with deliveries and requests for history (`FeedHost`).
 *
 * - In order, once: an offset at or below the last one delivered (in the same epoch) is
 *   dropped; the next one is delivered.
 * - Holes: an offset past the next one (a message lost on the way, a refused envelope)
 *   holds the feed and asks for the missing range from history; when the node's link to
 *   Redis comes back (`resume`), it asks for everything after the last offset. What
 *   arrives live meanwhile waits, and leaves in order after the history.
 * - What history no longer has (trimmed, expired) is skipped: the jump is then visible to
 *   clients by position, never hidden.
 * - A new epoch (history lost, Redis restarted) starts over: its publications before the
 *   first one seen live are filled too, so a node never skips what Redis still has.
 */
export interface FeedEntry {
  readonly epoch: string;
  readonly offset: number;
  readonly isBinary: boolean;
  readonly data: Buffer;
  /** The publishing node and its local tag for the publish (0: none). */
  readonly instanceId: string;
  readonly tag: number;
}

export interface FeedHost {
  deliver(entry: FeedEntry): void;
  /** Wants the entries of `from`..`to` (`to` undefined: up to the latest); answer with `filled` or `fillFailed`. */
  fetch(from: number, to: number | undefined): void;
}

export class TopicFeed {
  /** The epoch and offset of the last delivery; undefined before the first. */
  epoch: string | undefined;
  offset = 0;
  private fetching: { from: number; to: number | undefined } | null = null;
  private held: FeedEntry[] = [];

  constructor(private readonly host: FeedHost) {}

  /** Waiting for history, or a history request was refused (waiting for `retry`). */
  get filling(): boolean {
    return this.fetching !== null;
  }

  /** A publication from the live channel. */
  live(entry: FeedEntry): void {
    if (this.fetching !== null) this.held.push(entry);
    else this.accept(entry);
  }

  /** The link to Redis came back: whatever was published while it was down is in history. */
  resume(): void {
    if (this.epoch === undefined || this.fetching !== null) return;
    this.fetch(this.offset + 1, undefined);
  }

  /** History for the requested range: its epoch, its entries in order. */
  filled(epoch: string, entries: readonly FeedEntry[]): void {
    const range = this.fetching;
    if (range === null) return;
    this.fetching = null;
    if (epoch !== this.epoch && this.epoch !== undefined) {
      // The topic is in a new epoch (Redis lost it): what the new one has is all there is.
      this.epoch = epoch;
      this.offset = 0;
      return this.fetch(1, undefined);
    }
    {
      for (const entry of entries) if (entry.offset > this.offset && (range.to === undefined || entry.offset <= range.to)) this.take(entry);
      // What history lacks of the range is gone: skip it, so the next live one is taken.
      if (range.to !== undefined && this.offset < range.to) this.offset = range.to;
    }
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      if (this.fetching !== null) {
        this.held.push(...held.slice(i));
        return;
      }
      this.accept(held[i]!);
    }
  }

  /** The history request failed; `retry` asks again (the engine calls it when Redis is back). */
  retry(): void {
    if (this.fetching !== null) this.host.fetch(this.fetching.from, this.fetching.to);
  }

  private accept(entry: FeedEntry): void {
    if (this.epoch === undefined) return this.take(entry);
    if (entry.epoch !== this.epoch) {
      // A new epoch: what it published before this one may still be in history.
      this.epoch = entry.epoch;
      this.offset = 0;
      if (entry.offset === 1) return this.take(entry);
      this.held.push(entry);
      return this.fetch(1, entry.offset - 1);
    }
    if (entry.offset <= this.offset) return;
    if (entry.offset === this.offset + 1) return this.take(entry);
    this.held.push(entry);
    this.fetch(this.offset + 1, entry.offset - 1);
  }

  private take(entry: FeedEntry): void {
    this.epoch = entry.epoch;
    this.offset = entry.offset;
    this.host.deliver(entry);
  }

  private fetch(from: number, to: number | undefined): void {
    this.fetching = { from, to };
    this.host.fetch(from, to);
  }
}
