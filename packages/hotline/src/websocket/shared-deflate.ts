/**
 * A publish compressed once for all its subscribers (RFC 7692 §7.1.1.1).
 *
 * With server_no_context_takeover agreed, every message a connection compresses starts
 * from an empty window: its payload depends only on the message, the zlib settings
 * (level, memLevel) and the agreed server_max_window_bits (§7.1.2.1), never on what the
 * connection sent before. One compression per publish and per such setting therefore
 * serves every subscriber that has it, and so does the frame built from it. With context
 * takeover (the default) a subscriber's output depends on its own history: its own
 * codec compresses its own copy.
 *
 * A `SharedDeflater` per (limiter, window bits, level, memLevel) runs the publishes' jobs
 * one at a time, each holding a slot of the zlib limiter as a connection's job does. Its
 * stream is reset between messages and freed as soon as its queue is empty, so an idle
 * server holds no zlib memory for it. A job every waiting connection has left (closed)
 * is skipped, or stopped if it runs.
 */
import zlib from 'node:zlib';

import { Opcode } from '../protocol/opcode.js';
import { encodeFrameContiguous } from '../protocol/frame-encoder.js';
import { deflaterWindowBits, joinChunks, kCollector, messagePayload, onDeflateOutput, onZlibError } from './deflate-output.js';
import type { ZlibLimiter } from './zlib-limiter.js';

/** A message sent to many connections (a `Publication`, see publication.ts), where its compressions are kept. */
export interface SharedMessage {
  readonly data: Buffer;
  readonly isBinary: boolean;
  /** Its shared compressions, one per deflater in use (one per window size, in practice). */
  deflations?: SharedDeflation[];
}

/** Called with the whole frame (RSV1 set, §6.1), or with the zlib error. */
export type SharedFrameCallback = (error: Error | null, frame?: Buffer) => void;

/**
 * @internal What the shared deflaters have done: zlib runs (one per message and window
 * size) and streams alive. For tests and measurements.
 */
export const sharedDeflateCounters = { compressions: 0, streams: 0 };

/** One message's compression under one deflater, and the connections waiting for it. */
export class SharedDeflation {
  private callbacks: SharedFrameCallback[] = [];
  /** Connections still waiting; once none is left, the work is abandoned. */
  private waiting = 0;
  private settled = false;

  constructor(
    readonly deflater: SharedDeflater,
    readonly message: SharedMessage,
  ) {}

  get done(): boolean {
    return this.settled;
  }

  /** Nobody waits for the result any more: skip the job, or stop it. */
  get abandoned(): boolean {
    return !this.settled && this.waiting === 0;
  }

  /** Adds a connection's callback; called once the frame is ready, never synchronously. */
  wait(callback: SharedFrameCallback): void {
    this.waiting++;
    this.callbacks.push(callback);
  }

  /** A waiting connection has closed (its callback, if ever called, must do nothing). */
  cancel(): void {
    if (this.settled || this.waiting === 0) return;
    if (--this.waiting === 0) this.deflater.abandon(this);
  }

  /** @internal Calls every callback in the order they came, even if one throws. */
  settle(error: Error | null, frame?: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    const callbacks = this.callbacks;
    this.callbacks = [];
    let thrown: unknown = null;
    for (const callback of callbacks) {
      try {
        if (error === null) callback(null, frame);
        else callback(error);
      } catch (err) {
        thrown ??= err;
      }
    }
    if (thrown !== null) throw thrown;
  }
}

type Stream = zlib.DeflateRaw & { [kCollector]: SharedDeflater };

export class SharedDeflater {
  stream: Stream | null = null;
  // A FIFO with a moving head: a burst of publishes may queue thousands.
  private queue: Array<SharedDeflation | undefined> = [];
  private head = 0;
  /** The job taken from the queue: waiting for a limiter slot, or running. */
  current: SharedDeflation | null = null;
  /** The limiter slot's `done`, once the current job runs. */
  private release: (() => void) | null = null;
  chunks: Buffer[] = [];
  total = 0;

  constructor(
    /** The agreed server_max_window_bits, 8..15. */
    private readonly windowBits: number,
    private readonly level: number,
    private readonly memLevel: number,
    private readonly limiter: ZlibLimiter,
  ) {}

  enqueue(job: SharedDeflation): void {
    this.queue.push(job);
    this.next();
  }

  private next(): void {
    if (this.current !== null) return;
    while (this.head < this.queue.length) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (job.abandoned) continue;
      this.current = job;
      this.limiter.run((done) => this.start(job, done));
      return;
    }
    this.queue = [];
    this.head = 0;
    // Idle: §7.1.1.1 leaves nothing to keep for the next message, so the stream's memory
    // goes back now rather than waiting for one.
    this.dropStream();
  }

  private start(job: SharedDeflation, done: () => void): void {
    if (job.abandoned) {
      // Every waiting connection closed while the job waited for a slot.
      done();
      this.current = null;
      this.next();
      return;
    }
    this.release = done;
    this.chunks = [];
    this.total = 0;
    let stream = this.stream;
    if (stream === null) {
      stream = zlib.createDeflateRaw({
        windowBits: deflaterWindowBits(this.windowBits),
        level: this.level,
        memLevel: this.memLevel,
      }) as Stream;
      stream[kCollector] = this;
      stream.on('data', onDeflateOutput);
      // Kept for the stream's whole life: an 'error' with no listener would throw.
      stream.on('error', onZlibError);
      this.stream = stream;
      sharedDeflateCounters.streams++;
    } else {
      // §7.1.1.1: each message starts from an empty window; deflateReset gives one
      // without giving back and allocating the stream's memory again.
      stream.reset();
    }
    sharedDeflateCounters.compressions++;
    stream.write(job.message.data);
    // Z_SYNC_FLUSH: all output now, ending byte-aligned on an empty stored block (§7.2.1).
    stream.flush(zlib.constants.Z_SYNC_FLUSH, (error?: Error | null) => this.flushed(stream, job, error));
  }

  private flushed(stream: Stream, job: SharedDeflation, error: Error | null | undefined): void {
    // Settled already (failed, abandoned): nothing to do.
    if (this.current !== job || this.stream !== stream) return;
    if (error) {
      this.failed(error);
      return;
    }
    const payload = messagePayload(joinChunks(this.chunks, this.total));
    if (payload instanceof Error) {
      this.dropStream();
      this.finish(payload);
      return;
    }
    // §6.1: RSV1 on the (only) frame of a compressed message; a server never masks.
    const frame = encodeFrameContiguous(job.message.isBinary ? Opcode.BINARY : Opcode.TEXT, payload, {
      fin: true,
      rsv1: true,
      mask: null,
    });
    this.finish(null, frame);
  }

  /** zlib failed: the stream is unusable, and every connection waiting fails. */
  failed(error: Error): void {
    this.dropStream();
    if (this.current === null || this.release === null) return;
    this.finish(error);
  }

  /** @internal Called by a job whose last waiting connection has closed. */
  abandon(job: SharedDeflation): void {
    // Queued, or waiting for a slot: `next` or `start` skips it.
    if (job !== this.current || this.release === null) return;
    // Running: close() stops zlib between two output chunks; the pending flush callback
    // then gets ERR_STREAM_DESTROYED, which `flushed` ignores.
    this.dropStream();
    this.finish(null, undefined, false);
  }

  private dropStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    sharedDeflateCounters.streams--;
    stream.close();
  }

  private finish(error: Error | null, frame?: Buffer, notify = true): void {
    const job = this.current!;
    this.current = null;
    this.chunks = [];
    this.total = 0;
    const release = this.release;
    this.release = null;
    release?.();
    try {
      if (notify) job.settle(error, frame);
    } finally {
      this.next();
    }
  }
}

const pools = new WeakMap<ZlibLimiter, Map<string, SharedDeflater>>();

/**
 * The deflater every codec with these settings shares. Deflaters are kept (a few
 * dozen bytes each, no zlib memory while idle); there is one per combination in use.
 */
export function sharedDeflater(limiter: ZlibLimiter, windowBits: number, level: number, memLevel: number): SharedDeflater {
  let pool = pools.get(limiter);
  if (pool === undefined) {
    pool = new Map();
    pools.set(limiter, pool);
  }
  const key = `${windowBits}/${level}/${memLevel}`;
  let deflater = pool.get(key);
  if (deflater === undefined) {
    deflater = new SharedDeflater(windowBits, level, memLevel, limiter);
    pool.set(key, deflater);
  }
  return deflater;
}

/**
 * Joins `message`'s compression under `deflater`, starting it for the first connection
 * that asks. Returns it, for the connection to `cancel` if it closes first.
 */
export function shareDeflation(message: SharedMessage, deflater: SharedDeflater, callback: SharedFrameCallback): SharedDeflation {
  const deflations = (message.deflations ??= []);
  for (let i = 0; i < deflations.length; i++) {
    const deflation = deflations[i]!;
    // A message handed out again after its compression settled gets a new one.
    if (deflation.deflater === deflater && !deflation.done) {
      deflation.wait(callback);
      return deflation;
    }
  }
  const deflation = new SharedDeflation(deflater, message);
  deflations.push(deflation);
  // Waiting before it is queued: a free limiter slot starts it at once, and a job with
  // nobody waiting is skipped.
  deflation.wait(callback);
  deflater.enqueue(deflation);
  return deflation;
}
