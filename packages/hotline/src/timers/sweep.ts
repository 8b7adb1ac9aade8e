/**
 * One coarse timer drives every deadline of a set of connections: handshake, idle,
 * heartbeat and close timeouts. A timer per connection would cost an object, a heap
 * entry and a reschedule on every read; a sweep costs one pass over the set per tick,
 * which at 10,000 connections and one tick a second is nothing.
 */
export interface Sweepable {
  /** Called on every tick with the sweep's clock; checks and acts on its own deadlines. */
  sweep(now: number): void;
}

export class Sweep {
  private readonly members = new Set<Sweepable>();
  private timer: NodeJS.Timeout | null = null;
  /** ms between ticks: the granularity of every deadline driven by this sweep. */
  readonly interval: number;
  /**
   * A clock updated once per tick, cheap enough to read on every request. It lags by up
   * to one tick, so deadlines are armed from `Date.now()` (else they would fire up to a
   * tick early).
   */
  now = Date.now();

  constructor(interval: number) {
    this.interval = Math.max(1, Math.floor(interval));
  }

  get size(): number {
    return this.members.size;
  }

  add(member: Sweepable): void {
    this.members.add(member);
    if (this.timer === null) {
      this.now = Date.now();
      this.timer = setInterval(tick, this.interval, this);
      // Deadlines never keep the process alive on their own.
      this.timer.unref();
    }
  }

  delete(member: Sweepable): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** The members, in the order they joined; members may leave while this runs. */
  [Symbol.iterator](): IterableIterator<Sweepable> {
    return this.members.values();
  }

  /** Runs a tick now (tests, shutdown). */
  run(): void {
    this.now = Date.now();
    for (const member of this.members) member.sweep(this.now);
  }
}

function tick(sweep: Sweep): void {
  sweep.run();
}

/** Picks a sweep granularity for a set of timeouts: a quarter of the shortest, within [10 ms, 1 s]. */
export function granularityFor(...timeouts: number[]): number {
  const positive = timeouts.filter((t) => t > 0);
  if (positive.length === 0) return 1000;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...positive) / 4)));
}
