/** The lab's event stream: `rate` messages a second at random moments (see stream-message.ts). */
import { STREAM_LIMITS, serverNow, buildMessage } from './stream-message.js';

/** Where the stream's time comes from: the real clock and timers, or a test's fake ones. */
export interface StreamClock {
  /** ms, monotonic (performance.now()). */
  now(): number;
  setTimer(callback: (stream: EventStream) => void, ms: number, stream: EventStream): unknown;
  clearTimer(handle: unknown): void;
}

export const REAL_CLOCK: StreamClock = {
  now: () => performance.now(),
  setTimer: (callback, ms, stream) => setTimeout(callback, ms, stream),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface StreamOptions {
  rate: number;
  size: number;
  /**
   * 'poisson' (default): exponential gaps with mean 1/rate. 'fixed': exactly 1/rate apart,
   * which a poller with a commensurate interval would meet at the same phase every time,
   * making its latency an accident of the two clocks.
   */
  arrivals?: 'poisson' | 'fixed';
  /**
   * Seed of the random gaps. The bench seeds every run alike, so that each transport
   * meets the very same sequence of events; unseeded, each run differs.
   */
  seed?: number;
  /** The real clock unless a test brings its own. */
  clock?: StreamClock;
}

/** mulberry32: a small, well-mixed 32-bit generator, enough to draw gaps reproducibly. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Emits messages on a schedule that does not drift: each message's due time follows the
 * previous one's due time (not the timer's actual firing), so the long-run rate is exact.
 */
export class EventStream {
  rate: number;
  size: number;
  /** Messages emitted since the last `configure` or `resetCount`. */
  published = 0;
  private seq = 0;
  readonly arrivals: 'poisson' | 'fixed';
  private readonly random: () => number;
  private timer: unknown = null;
  private readonly clock: StreamClock;
  /** When the next message is due (the clock's ms). */
  private due = 0;
  private readonly emit: (message: string, seq: number, t: number) => void;

  constructor(options: StreamOptions, emit: (message: string, seq: number, t: number) => void) {
    this.rate = clamp(options.rate, STREAM_LIMITS.minRate, STREAM_LIMITS.maxRate);
    this.size = clamp(Math.round(options.size), STREAM_LIMITS.minSize, STREAM_LIMITS.maxSize);
    this.arrivals = options.arrivals ?? 'poisson';
    this.random = options.seed === undefined ? Math.random : seeded(options.seed);
    this.emit = emit;
    this.clock = options.clock ?? REAL_CLOCK;
  }

  /** Sequence number of the last message emitted (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer !== null) return;
    this.due = this.clock.now() + this.gap();
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  configure(options: Partial<StreamOptions>): void {
    if (options.rate !== undefined && Number.isFinite(options.rate)) {
      this.rate = clamp(options.rate, STREAM_LIMITS.minRate, STREAM_LIMITS.maxRate);
    }
    if (options.size !== undefined && Number.isFinite(options.size)) {
      this.size = clamp(Math.round(options.size), STREAM_LIMITS.minSize, STREAM_LIMITS.maxSize);
    }
    if (this.timer !== null) {
      this.stop();
      this.start();
    }
  }

  resetCount(): void {
    this.published = 0;
  }

  /** ms until the next message: exponential with mean 1000 / rate, or exactly that. */
  private gap(): number {
    const mean = 1000 / this.rate;
    return this.arrivals === 'fixed' ? mean : -Math.log(1 - this.random()) * mean;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(onTick, Math.max(0, this.due - this.clock.now()), this);
  }

  /** @internal */
  tick(): void {
    // Several may be due after a stall (a long GC, a busy loop): send them all now.
    const now = this.clock.now();
    let burst = 0;
    while (this.due <= now + 1 && burst < 1000) {
      this.due += this.gap();
      burst++;
      const seq = ++this.seq;
      const t = serverNow();
      this.published++;
      this.emit(buildMessage(seq, t, this.size), seq, t);
    }
    if (this.timer !== null) this.schedule();
  }
}

function onTick(stream: EventStream): void {
  stream.tick();
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
