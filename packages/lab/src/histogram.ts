/**
 * A latency histogram with log-spaced buckets: constant memory whatever the number of
 * samples, 1 % relative error on every quantile, and mergeable (the bench adds up the
 * histograms of its client processes). Values are milliseconds. No Node imports: the
 * page uses it too.
 */

/** Buckets grow by 2 %: a reported quantile is within 1 % of the true sample. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Below 1 µs everything is "1 µs": the clocks involved are no finer than that. */
const MIN_MS = 0.001;
/** 10 minutes: a message older than that is not late, it is lost. */
const MAX_MS = 600_000;
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GROWTH) + 2;

function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  if (ms >= MAX_MS) return BUCKETS - 1;
  return 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH);
}

/** The middle of a bucket (geometric), which is what a quantile reports. */
function valueOf(bucket: number): number {
  if (bucket === 0) return MIN_MS;
  return MIN_MS * Math.pow(GROWTH, bucket - 0.5);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export class Histogram {
  private counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;
  /** Negative samples seen (a receipt before the send: clock offset error), clamped to 0. */
  negative = 0;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    if (ms < 0) {
      this.negative++;
      ms = 0;
    }
    this.counts[bucketOf(ms)]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.negative += other.negative;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
    this.negative = 0;
  }

  /** The value below which a fraction `q` (0..1) of the samples lie; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: round(this.quantile(0.5)),
      p90: round(this.quantile(0.9)),
      p99: round(this.quantile(0.99)),
      max: round(this.max),
      mean: this.count === 0 ? 0 : round(this.sum / this.count),
    };
  }

  /** Compact form for sending between processes: [bucket, count] pairs. */
  toJSON(): { buckets: Array<[number, number]>; count: number; sum: number; max: number; negative: number } {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] !== 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sum: this.sum, max: this.max, negative: this.negative };
  }

  static fromJSON(json: ReturnType<Histogram['toJSON']>): Histogram {
    const h = new Histogram();
    for (const [i, n] of json.buckets) if (i >= 0 && i < BUCKETS) h.counts[i] = n;
    h.count = json.count;
    h.sum = json.sum;
    h.max = json.max;
    h.negative = json.negative;
    return h;
  }
}

/** Three significant digits, enough for any latency shown to a person. */
function round(ms: number): number {
  if (ms === 0) return 0;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(ms))));
  const f = Math.pow(10, Math.min(digits, 3));
  return Math.round(ms * f) / f;
}
