/**
 * A limit on concurrent zlib jobs: one process-wide by default, and one of its own for
 * each server or client that sets its `concurrency`.
 *
 * Node runs every zlib step on the libuv thread pool, and each running job holds its
 * input, an output chunk and (for inflation) a growing list of outputs. Thousands of
 * connections compressing at once do not go faster than the pool's threads allow, but
 * they do keep thousands of such buffers alive at once and fragment the heap badly
 * enough that RSS stays high long after the burst (nodejs/node#8871,
 * websockets/ws#1202). The pool is process-wide, and so is the default limit: servers
 * and clients that do not choose one share it, and together keep to it. One that sets
 * `concurrency` gets a limiter of its own, so that its setting never changes another's.
 *
 * A job is one whole message (compressed or inflated, however many zlib steps it
 * takes); it calls `done` when it no longer needs its slot.
 */
import { DEFLATE_DEFAULTS } from '../protocol/permessage-deflate.js';
import { invalidArgument } from '../errors.js';

export type ZlibJob = (done: () => void) => void;

export class ZlibLimiter {
  private limit: number;
  private active = 0;
  // A FIFO with a moving head: `shift()` is O(n) and a burst may queue thousands.
  private jobs: Array<ZlibJob | undefined> = [];
  private head = 0;
  private draining = false;

  constructor(concurrency: number = DEFLATE_DEFAULTS.concurrency) {
    this.limit = checkConcurrency(concurrency);
  }

  /** The most jobs that may run at once. Raising it starts queued jobs at once. */
  get concurrency(): number {
    return this.limit;
  }

  set concurrency(value: number) {
    this.limit = checkConcurrency(value);
    this.drain();
  }

  /** Jobs holding a slot. */
  get running(): number {
    return this.active;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.jobs.length - this.head;
  }

  /** Runs `job` now if a slot is free, else when one frees up, in arrival order. */
  run(job: ZlibJob): void {
    this.jobs.push(job);
    this.drain();
  }

  private drain(): void {
    // A loop, not recursion: a job that finishes synchronously (say, for a connection
    // closed while it waited) calls `done` from inside `job()`, and a long queue of
    // those must not grow the stack.
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.active < this.limit && this.head < this.jobs.length) {
        const job = this.jobs[this.head]!;
        this.jobs[this.head++] = undefined;
        if (this.head === this.jobs.length) {
          this.jobs = [];
          this.head = 0;
        } else if (this.head >= 1024 && this.head * 2 >= this.jobs.length) {
          this.jobs = this.jobs.slice(this.head);
          this.head = 0;
        }
        this.active++;
        let released = false;
        const done = (): void => {
          // Idempotent: a slot is given back once, whatever the job does.
          if (released) return;
          released = true;
          this.active--;
          this.drain();
        };
        try {
          job(done);
        } catch (err) {
          done();
          throw err;
        }
      }
    } finally {
      this.draining = false;
    }
  }
}

function checkConcurrency(value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw invalidArgument('zlib concurrency must be an integer >= 1');
  }
  return value;
}

/**
 * The process-wide limiter: a permessage-deflate codec's unless given another, and that
 * of every server and client that sets no `concurrency`.
 */
export const zlibLimiter = new ZlibLimiter();

/**
 * The limiter of a server or client configured with `concurrency`: its own when it set
 * one (to be made once per server or client, and shared by its codecs), else the
 * process-wide one.
 */
export function limiterFor(concurrency: number | undefined): ZlibLimiter {
  return concurrency === undefined ? zlibLimiter : new ZlibLimiter(concurrency);
}
