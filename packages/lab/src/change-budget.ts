/**
 * How often one address may change the shared stream or reset the shared counters: a
 * token bucket per remote address (by default 5 changes at once, then one every 2 s). A visitor
 * trying settings is never slowed; a script that resets every viewer's counters in a
 * loop gets 429 and the window lasts.
 */
export const CHANGE_BURST = 5;
export const CHANGE_REFILL_MS = 2000;
/** Addresses remembered at once; beyond, the oldest is forgotten (a full bucket again). */
const MAX_ADDRESSES = 1024;

interface Bucket {
  tokens: number;
  at: number;
}

export class ChangeBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst: number = CHANGE_BURST,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one change for `address`; false when its budget is spent. */
  take(address: string): boolean {
    const now = this.now();
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_ADDRESSES) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(address, bucket);
    } else {
      const refilled = Math.floor((now - bucket.at) / CHANGE_REFILL_MS);
      if (refilled > 0) {
        bucket.tokens = Math.min(this.burst, bucket.tokens + refilled);
        bucket.at = bucket.tokens === this.burst ? now : bucket.at + refilled * CHANGE_REFILL_MS;
      }
    }
    if (bucket.tokens === 0) return false;
    bucket.tokens--;
    return true;
  }
}
