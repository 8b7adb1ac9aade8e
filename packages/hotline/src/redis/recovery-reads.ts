import type { StreamPosition } from '../protocol/position.js';
import type { FeedEntry } from './topic-feed.js';

/**
 * The recovery reads of one topic on one node, coalesced. In a reconnect storm thousands
 * of clients come back onto a node at once and each recovers the same few topics: one
 * Redis READ per client and topic would make Redis pay for the number of clients. Here
 * they share reads instead:
 *
 * - Recoveries asked while no read is in flight go together into the next read, from the
 *   lowest position asked, as many entries as the highest one needs (at most the history
 *   size: the stream holds no more).
 * - One asked while a read is in flight, from a position the read covers, joins it.
 * - For `reuse` ms after a reply, recoveries are answered from it, extended by what the
 *   live feed delivered since (kept in `recent`, in order and without a hole).
 *
 * Each caller gets its own answer, cut from the shared one: the entries its own read
 * (from `since.offset + 1`, `limit + 1` of them) would have returned, and the stream's
 * position. A reply that cannot answer a caller exactly sends it to a later read.
 *
 * Why a read sent before a caller came is not taken as it is: the caller's live feed
 * starts when it subscribed, and a publication the node delivered between the read and
 * that moment is in neither the reply nor the caller's feed. A joiner's answer therefore
 * reaches the feed's position when the reply lands (`recent` holds what came after the
 * read); when it cannot (an epoch changed, a hole), the caller waits for the next read.
 */

/** A READ's reply, and what was asked of it. */
export interface History {
  readonly epoch: string;
  /** The stream's last offset. */
  readonly seq: number;
  /** The oldest offset the stream keeps (`seq + 1` when none). */
  readonly oldest: number;
  /** The stream went by its TTL. */
  readonly expired: boolean;
  readonly entries: readonly FeedEntry[];
  /** The epoch whose entries were asked for (entries come only when it is the stream's). */
  readonly asked: string;
  /** The first offset asked for. */
  readonly from: number;
  /** Whether `entries` reach the stream's end, rather than the count asked for. */
  readonly complete: boolean;
}

/** A stream as `decideRecovery` sees it, with the entries after one caller's position. */
export interface Answer {
  readonly epoch: string;
  readonly offset: number;
  readonly oldest: number;
  readonly expired: boolean;
  readonly entries: readonly FeedEntry[];
}

export interface RecoveryReadsHost {
  /** One READ of the topic's stream: the entries of `epoch` from `from`, at most `count`. */
  read(epoch: string, from: number, count: number): Promise<History>;
  /** The topic's live feed on this node: its last delivery. */
  readonly feed: { readonly epoch: string | undefined; readonly offset: number };
  /** Most entries the stream keeps (the engine's `historySize`). */
  readonly historySize: number;
  /** ms a reply goes on answering recoveries. */
  readonly reuse: number;
}

/** Most live deliveries kept to extend a reply; past them, a later read answers. */
const RECENT_MAX = 1_024;

interface Asker {
  readonly since: StreamPosition;
  readonly limit: number;
  resolve(answer: Answer): void;
  reject(error: unknown): void;
}

/** One read: who it answers as it is (members came before it was sent), who joined it later. */
interface Read {
  from: number;
  /** The last offset a member's own read could return. */
  end: number;
  readonly members: Asker[];
  readonly joiners: Asker[];
}

/** An epoch's reads: the one in flight, and the one gathering for when it lands. */
interface Reads {
  flying: Read | null;
  next: Read | null;
}

export class RecoveryReads {
  /** Live deliveries since reads began, offsets one by one in one epoch. */
  private recent: FeedEntry[] = [];
  private recording = false;
  private last: { history: History; at: number } | null = null;
  private readonly reads = new Map<string, Reads>();
  /** READs sent (for tests and diagnostics). */
  sent = 0;

  constructor(private readonly host: RecoveryReadsHost) {}

  recover(since: StreamPosition, limit: number): Promise<Answer> {
    return new Promise((resolve, reject) => this.ask({ since, limit, resolve, reject }));
  }

  /** The live feed delivered `entry`. */
  delivered(entry: FeedEntry): void {
    if (!this.recording) return;
    if (this.reads.size === 0 && !this.fresh()) {
      this.recording = false;
      this.recent = [];
      this.last = null;
      return;
    }
    const tail = this.recent.at(-1);
    if (tail !== undefined && (tail.epoch !== entry.epoch || entry.offset !== tail.offset + 1)) this.recent = [];
    this.recent.push(entry);
    if (this.recent.length > RECENT_MAX) this.recent = this.recent.slice(RECENT_MAX / 2);
  }

  private fresh(): boolean {
    return this.last !== null && Date.now() - this.last.at < this.host.reuse;
  }

  private ask(asker: Asker): void {
    if (this.fresh()) {
      const view = this.extend(this.last!.history);
      const answer = view === undefined ? undefined : cut(asker, view);
      if (typeof answer === 'object') return asker.resolve(answer);
    }
    const flying = this.reads.get(asker.since.epoch)?.flying;
    if (flying != null && flying.from <= asker.since.offset + 1) return void flying.joiners.push(asker);
    this.enqueue(asker);
  }

  private enqueue(asker: Asker): void {
    const { epoch, offset } = asker.since;
    let reads = this.reads.get(epoch);
    if (reads === undefined) this.reads.set(epoch, (reads = { flying: null, next: null }));
    const next = (reads.next ??= { from: Infinity, end: 0, members: [], joiners: [] });
    next.from = Math.min(next.from, offset + 1);
    next.end = Math.max(next.end, offset + 1 + asker.limit);
    next.members.push(asker);
    // Sent once the callers of this event-loop turn have come; later ones join it in flight.
    if (reads.flying === null && next.members.length === 1) setImmediate(() => this.send(epoch));
  }

  private send(epoch: string): void {
    const reads = this.reads.get(epoch);
    if (reads === undefined || reads.flying !== null || reads.next === null) return;
    const read = reads.next;
    reads.next = null;
    reads.flying = read;
    this.recording = true;
    const count = Math.max(1, Math.min(read.end - read.from + 1, this.host.historySize));
    this.sent++;
    this.host.read(epoch, read.from, count).then(
      (history) => {
        reads.flying = null;
        if (history.epoch === history.asked) this.last = { history, at: Date.now() };
        for (const member of read.members) {
          const answer = cut(member, history);
          if (typeof answer === 'object') member.resolve(answer);
          else this.solo(member);
        }
        const view = this.extend(history);
        for (const joiner of read.joiners) {
          const answer = view === undefined ? undefined : cut(joiner, view);
          if (typeof answer === 'object') joiner.resolve(answer);
          else this.enqueue(joiner);
        }
        this.settle(epoch, reads);
      },
      (error: unknown) => {
        reads.flying = null;
        for (const asker of [...read.members, ...read.joiners]) asker.reject(error);
        this.settle(epoch, reads);
      },
    );
  }

  private settle(epoch: string, reads: Reads): void {
    if (reads.next !== null) this.send(epoch);
    else if (this.reads.get(epoch) === reads) this.reads.delete(epoch);
  }

  /** A caller the shared reply could not answer exactly (it asked past its count): its own read. */
  private solo(asker: Asker): void {
    const { since, limit } = asker;
    this.sent++;
    this.host.read(since.epoch, since.offset + 1, limit + 1).then((history) => {
      const answer = cut(asker, history);
      // Its own read answers it whatever it holds, as an uncoalesced read would.
      asker.resolve(typeof answer === 'object' ? answer : { ...history, offset: history.seq, entries: history.entries });
    }, asker.reject);
  }

  /**
   * A reply brought up to the live feed's position: what the node delivered since the
   * read, appended. Undefined when the feed moved on in a way the reply cannot follow.
   */
  private extend(history: History): History | undefined {
    const { epoch, offset } = this.host.feed;
    if (epoch === undefined || (epoch === history.epoch && offset <= history.seq)) return history;
    if (epoch !== history.epoch || !history.complete) return undefined;
    const recent = this.recent;
    const first = recent[0];
    if (first === undefined || first.epoch !== epoch || first.offset > history.seq + 1 || recent.at(-1)!.offset !== offset) return undefined;
    const after = recent.filter((entry) => entry.offset > history.seq);
    const size = this.host.historySize;
    return {
      ...history,
      seq: offset,
      // The stream keeps its last `historySize` entries (MAXLEN): the older ones went as these came.
      oldest: size > 0 ? Math.max(history.oldest, offset - size + 1) : offset + 1,
      expired: false,
      entries: [...history.entries, ...after],
    };
  }
}

/**
 * One caller's answer from a shared reply: the entries its own read would have returned.
 * 'again' when the reply does not cover its position (another epoch's entries, or from
 * past its offset); 'short' when the reply stopped at its count before the caller's end.
 */
function cut(asker: Asker, history: History): Answer | 'again' | 'short' {
  const { since, limit } = asker;
  const view = { epoch: history.epoch, offset: history.seq, oldest: history.oldest, expired: history.expired };
  // No entry needed when the answer is not 'recovered' with messages (as `decideRecovery` decides it).
  const needs = since.epoch === view.epoch && since.offset < view.offset && view.offset - since.offset <= limit && view.oldest <= since.offset + 1;
  if (!needs) return { ...view, entries: [] };
  if (since.epoch !== history.asked || history.from > since.offset + 1) return 'again';
  const entries: FeedEntry[] = [];
  for (const entry of history.entries) {
    if (entry.offset <= since.offset) continue;
    if (entries.length > limit) break;
    entries.push(entry);
  }
  if (!history.complete && entries.length <= limit) return 'short';
  return { ...view, entries };
}
