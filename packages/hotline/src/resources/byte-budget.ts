/**
 * A server-wide byte budget shared by many holders: every peer's limit alone (a WebSocket
 * peer's `maxBufferedAmount`, a session's `maxQueue`, a message's `maxPayload`) bounds
 * one peer, but many peers at their limit multiply it. A budget bounds the sum.
 *
 * Each holder states what it holds now (`set`), and the budget keeps the total. When a
 * holder asks for more than is left, the budget makes room by evicting the holders that
 * hold the most — the slowest readers, the largest partial messages — until the total is
 * back under `limit × RECOVERY` (a margin, so that a budget under pressure does not
 * evict on every byte). A holder that is itself the largest is refused instead: it keeps
 * what it had, and its owner deals with it (refuses the send, fails the peer).
 *
 * No timers and no I/O: eviction calls the holder's `evict()`, which must release its
 * reservation (`set(holder, 0)` or `release(holder)`) before it returns, or soon after.
 */

/** What the budget needs of a holder. */
export interface BudgetHolder {
  /** Release everything held, because the budget needs the room (close the peer, say). */
  evict(reason: BudgetExhausted): void;
}

/** Why a holder was evicted: the budget's name and figures, for the `error` hook. */
export interface BudgetExhausted {
  readonly budget: string;
  readonly limit: number;
  readonly held: number;
}

/** After evicting, the total is brought down to this fraction of the limit. */
const RECOVERY = 0.9;

export class ByteBudget {
  /** Bytes held by all holders together. */
  private total = 0;
  private readonly holders = new Map<BudgetHolder, number>();
  /**
   * At least what the largest holder holds (exact after a scan, raised by every growth,
   * left high by shrinks): a full budget refuses a holder nobody is larger than without
   * looking at every holder — a fan-out to thousands of full subscribers asks once per
   * subscriber per message, and a scan each time would make a publish O(holders²).
   */
  private largest = 0;
  /** Holders evicted since the budget was made (reported by the server's stats). */
  evictions = 0;
  /** Requests refused since the budget was made. */
  refusals = 0;

  constructor(
    /** What the budget bounds, as the README's table names it (`maxOutboundBytes`, …). */
    readonly name: string,
    /** Most bytes all holders together may hold; Infinity for no limit. */
    readonly limit: number,
  ) {}

  /** Bytes held now, by everyone. */
  get used(): number {
    return this.total;
  }

  /** Bytes `holder` holds now. */
  heldBy(holder: BudgetHolder): number {
    return this.holders.get(holder) ?? 0;
  }

  /**
   * Sets what `holder` holds to `bytes`. Shrinking always succeeds. Growing succeeds when
   * it fits, or once larger holders were evicted to make room; otherwise it returns false
   * and the holder keeps its previous reservation.
   */
  set(holder: BudgetHolder, bytes: number): boolean {
    const before = this.holders.get(holder) ?? 0;
    if (bytes <= before) {
      this.total -= before - bytes;
      if (bytes === 0) this.holders.delete(holder);
      else this.holders.set(holder, bytes);
      return true;
    }
    const grow = bytes - before;
    if (this.total + grow > this.limit && !this.makeRoom(holder, bytes, grow)) {
      this.refusals++;
      return false;
    }
    this.total += grow;
    this.holders.set(holder, bytes);
    if (bytes > this.largest) this.largest = bytes;
    return true;
  }

  /** Adds `bytes` to what `holder` holds (see `set`). */
  add(holder: BudgetHolder, bytes: number): boolean {
    return this.set(holder, this.heldBy(holder) + bytes);
  }

  /** The holder holds nothing any more (it closed). */
  release(holder: BudgetHolder): void {
    const before = this.holders.get(holder);
    if (before === undefined) return;
    this.total -= before;
    this.holders.delete(holder);
  }

  /**
   * Evicts the largest holders other than `asking`, largest first, as long as each holds
   * more than `asking` would: a newcomer is never the reason a smaller holder goes.
   */
  private makeRoom(asking: BudgetHolder, wanted: number, grow: number): boolean {
    if (this.largest <= wanted) return false;
    const target = Math.min(this.limit * RECOVERY, this.limit - grow);
    const larger: Array<[BudgetHolder, number]> = [];
    let largest = 0;
    for (const entry of this.holders) {
      if (entry[1] > largest) largest = entry[1];
      if (entry[0] !== asking && entry[1] > wanted) larger.push(entry);
    }
    this.largest = largest;
    larger.sort((a, b) => b[1] - a[1]);
    const exhausted: BudgetExhausted = { budget: this.name, limit: this.limit, held: this.total };
    for (const [holder] of larger) {
      if (this.total <= target) break;
      this.evictions++;
      holder.evict(exhausted);
      // A holder that did not let go is not held against the others.
      this.release(holder);
    }
    return this.total + grow <= this.limit;
  }
}
