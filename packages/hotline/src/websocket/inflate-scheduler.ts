/**
 * A server-wide rate for inflate work (`maxInflateRate`), taken in turns.
 *
 * Every size limit is per message: a peer under all of them can still send one
 * compressed message after another that each inflate ~1000-fold to just under
 * `maxPayload`, and keep zlib (and whatever handles the output) busy for as long as it
 * likes. Work is counted here in bytes of inflated output, as zlib produces it, against
 * a token bucket refilled at `rate` bytes per second.
 *
 * Connections take turns, round-robin: a turn is `QUANTUM` bytes of output. A connection
 * whose turn is used up goes on at once while nobody waits and the bucket has tokens;
 * otherwise its zlib stream is paused (its socket already is, while a message inflates)
 * and it joins the back of the queue. So a connection inflating bombs gets one turn in
 * as many as there are connections waiting, and a bystander's small message waits at most
 * one round of turns, never behind a whole bomb.
 *
 * One unref'd timer per scheduler, armed only while connections wait.
 */

/** What the scheduler drives: one connection's inflate stream (see permessage-deflate.ts). */
export interface InflateTurns {
  /** Bytes this connection may still produce in its current turn. */
  allowance: number;
  /** Its turn has come again: resume inflating. */
  resumeInflate(): void;
}

/**
 * Bytes of output per turn: 64 KiB is a few zlib output chunks (16 KiB each), enough that
 * a turn costs little scheduling, small enough that a round of 100 waiting connections
 * is 6.4 MiB: 100 ms at the default rate.
 */
export const QUANTUM = 64 * 1024;

/** The bucket holds at most this much of a second's rate: short bursts go through unslowed. */
const BURST = 0.1;

/** The timer never fires more often than this (ms): wake-ups cost more than they save below it. */
const MIN_WAIT = 5;

export class InflateScheduler {
  /** Bytes of inflated output allowed per second. */
  readonly rate: number;
  private readonly capacity: number;
  private tokens: number;
  private refilledAt: number;
  // A FIFO with a moving head, as in the zlib limiter: a flood may queue thousands.
  private waiting: Array<InflateTurns | undefined> = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    rate: number,
    /** ms, monotonic; injectable so that tests need no sleeps. */
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.rate = rate;
    this.capacity = Math.max(QUANTUM, rate * BURST);
    this.tokens = this.capacity;
    this.refilledAt = now();
  }

  /** Connections waiting for a turn. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /**
   * `bytes` of output were produced by `turns`. True when it may go on; false when it must
   * pause: it is queued, and `resumeInflate` is called when its turn comes.
   */
  spend(turns: InflateTurns, bytes: number): boolean {
    turns.allowance -= bytes;
    if (turns.allowance > 0) return true;
    this.refill();
    if (this.queued === 0 && this.tokens > 0) {
      this.tokens -= QUANTUM;
      turns.allowance += QUANTUM;
      return true;
    }
    this.waiting.push(turns);
    this.arm();
    return false;
  }

  /** `turns` stops waiting (its connection closed). */
  cancel(turns: InflateTurns): void {
    const at = this.waiting.indexOf(turns, this.head);
    if (at !== -1) this.waiting[at] = undefined;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  private arm(): void {
    if (this.timer !== null) return;
    const wait = Math.max(MIN_WAIT, ((QUANTUM - this.tokens) * 1000) / this.rate);
    this.timer = setTimeout(nextTurns, wait, this);
    this.timer.unref();
  }

  /** @internal The timer fired: give turns, in order, while there are tokens for them. */
  giveTurns(): void {
    this.timer = null;
    this.refill();
    while (this.head < this.waiting.length && this.tokens > 0) {
      const turns = this.waiting[this.head];
      this.waiting[this.head++] = undefined;
      if (turns === undefined) continue;
      this.tokens -= QUANTUM;
      turns.allowance += QUANTUM;
      turns.resumeInflate();
    }
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else {
      if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      this.arm();
    }
  }
}

function nextTurns(scheduler: InflateScheduler): void {
  scheduler.giveTurns();
}
