/**
 * The permessage-deflate codec (RFC 7692 §6, §7.2): one per connection, a stage of the
 * connection shell. The parser hands it whole compressed message payloads and stops
 * reading until the callback; the sender hands it whole messages and writes them in
 * callback order. The negotiation that produces `DeflateParams` is pure and lives in
 * `protocol/permessage-deflate.ts`.
 *
 * Costs, and how they are bounded:
 * - zlib streams are created on first use, one per direction, so a connection that
 *   never compresses holds no zlib memory. With no_context_takeover in a direction the
 *   stream is freed after every message instead of being reset.
 * - Inflation stops the moment the output passes `maxPayload`: a message costs at most
 *   `maxPayload` plus one 16 KiB zlib output chunk, whatever it would inflate to.
 * - Every job (one whole message) waits for a slot of its limiter: the server's own, or
 *   the process-wide `zlibLimiter` that clients share.
 * - With a scheduler (the server's `maxInflateRate`), inflation takes turns with every
 *   other connection's: a connection whose turn is used up pauses its zlib stream, gives
 *   its limiter slot to someone else, and goes on when its turn comes again.
 * - With a budget (the server's `maxPartialBytes`), the output of a message being
 *   inflated is held in it as it grows, so that paused inflations, like partial frames,
 *   are bounded in sum; evicted or refused, the message fails with 1013.
 * - Callbacks complete in call order per direction: each direction runs one job at a
 *   time, and the next one waits for the previous callback.
 */
import zlib from 'node:zlib';

import { CloseCode, HotlineError, ProtocolError, invalidArgument, invalidState } from '../errors.js';
import { DEFLATE_DEFAULTS, type DeflateParams } from '../protocol/permessage-deflate.js';
import { Side } from '../protocol/side.js';
import { zlibLimiter, type ZlibLimiter } from './zlib-limiter.js';
import type { InflateScheduler, InflateTurns } from './inflate-scheduler.js';
import type { BudgetExhausted, BudgetHolder, ByteBudget } from '../resources/byte-budget.js';
import {
  TRAILER,
  deflaterWindowBits,
  joinChunks,
  kCollector,
  messagePayload,
  onDeflateOutput,
  onZlibError,
} from './deflate-output.js';
import {
  type SharedDeflater,
  type SharedDeflation,
  type SharedFrameCallback,
  type SharedMessage,
  shareDeflation,
  sharedDeflater,
} from './shared-deflate.js';

export interface DeflateCodecOptions {
  /**
   * The largest inflated message accepted, in bytes (`Infinity`: no limit). RFC 7692
   * leaves it to the endpoint; the limit that matters is on the inflated size, since a
   * small compressed payload may inflate ~1000-fold.
   */
  maxPayload: number;
  /** zlib level, 0..9. Default `DEFLATE_DEFAULTS.level`. */
  level?: number;
  /** zlib memLevel, 1..9. Default `DEFLATE_DEFAULTS.memLevel`. */
  memLevel?: number;
  /** `shouldCompress` is false below this many bytes. Default `DEFLATE_DEFAULTS.threshold`. */
  threshold?: number;
  /** The concurrency limit to queue on; the process-wide one unless given. */
  limiter?: ZlibLimiter;
  /** The rate inflation takes turns under (the server's `maxInflateRate`); none unless given. */
  inflateScheduler?: InflateScheduler | null;
  /** Where the output of a message being inflated is held (the server's `maxPartialBytes`). */
  partialBudget?: ByteBudget | null;
}

export type CompressCallback = (error: Error | null, result?: Buffer) => void;
export type DecompressCallback = (error: HotlineError | null, result?: Buffer) => void;

/** Message data: one buffer, or the payloads of a message's fragments in order. */
export type MessageData = Buffer | readonly Buffer[];

type ZlibStream = (zlib.DeflateRaw | zlib.InflateRaw) & { [kCollector]: Lane };

interface Job {
  data: MessageData;
  callback: (error: HotlineError | Error | null, result?: Buffer) => void;
}

/**
 * One direction: a queue of whole-message jobs, the zlib stream (created lazily), and
 * the outputs of the job in progress.
 */
class Lane implements InflateTurns, BudgetHolder {
  stream: ZlibStream | null = null;
  /** InflateTurns: output bytes left in this lane's turn. */
  allowance = 0;
  /** The stream is paused until the scheduler gives this lane a turn. */
  private waitingTurn = false;
  private readonly queue: Job[] = [];
  /** The job taken from the queue: waiting for a limiter slot, or running. */
  current: Job | null = null;
  /** The limiter slot's `done`, once the current job runs. */
  private release: (() => void) | null = null;
  /** Queued on the limiter or running. */
  private busy = false;
  closed = false;
  chunks: Buffer[] = [];
  total = 0;

  constructor(
    readonly inflate: boolean,
    /** The window this direction's data was (or will be) compressed with, 8..15. */
    private readonly windowBits: number,
    /** RFC 7692 §7.1.1: no_context_takeover applies to this direction. */
    private readonly noContextTakeover: boolean,
    readonly limiter: ZlibLimiter,
    readonly maxPayload: number,
    private readonly level: number,
    private readonly memLevel: number,
    private readonly scheduler: InflateScheduler | null = null,
    private readonly budget: ByteBudget | null = null,
  ) {}

  enqueue(job: Job): void {
    this.queue.push(job);
    this.next();
  }

  private next(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    this.busy = true;
    // `current` from now on, while it waits for a slot too, so that close() finds it.
    this.current = job;
    this.limiter.run((done) => this.start(job, done));
  }

  private start(job: Job, done: () => void): void {
    // Closed while waiting for a slot: the callback has had its error already.
    if (this.closed) {
      done();
      return;
    }
    this.release = done;
    this.chunks = [];
    this.total = 0;
    const stream = this.stream ?? this.createStream();
    const { data } = job;
    if (Buffer.isBuffer(data)) {
      stream.write(data);
    } else {
      for (const part of data as readonly Buffer[]) stream.write(part);
    }
    if (this.inflate) stream.write(TRAILER);
    // Z_SYNC_FLUSH: all output for this message now, ending byte-aligned on an empty
    // stored block (§7.2.1), and the window kept for the next message.
    stream.flush(zlib.constants.Z_SYNC_FLUSH, (error?: Error | null) => this.flushed(stream, job, error));
  }

  /** An output chunk was kept: hold it in the budget, and count it against the rate. */
  produced(bytes: number): void {
    if (this.budget !== null && !this.budget.set(this, this.total)) {
      this.overBudget(this.budget);
      return;
    }
    if (this.scheduler !== null && !this.waitingTurn && !this.scheduler.spend(this, bytes)) {
      // zlib stops once the paused stream's buffer is full; the slot serves others meanwhile.
      this.waitingTurn = true;
      this.stream!.pause();
      const release = this.release;
      this.release = null;
      release?.();
    }
  }

  /** InflateTurns: this lane's turn has come: take a limiter slot again, then go on. */
  resumeInflate(): void {
    if (!this.waitingTurn) return;
    this.limiter.run((done) => {
      if (!this.waitingTurn || this.current === null || this.stream === null) {
        done();
        return;
      }
      this.waitingTurn = false;
      this.release = done;
      this.stream.resume();
    });
  }

  /**
   * BudgetHolder: the server needs the room this message's output holds. RFC 6455 §7.4.1
   * 1013: the server is under pressure, the peer (within its limits) is not at fault.
   */
  evict(reason: BudgetExhausted): void {
    if (this.current === null) return;
    this.overBudget(reason);
  }

  private overBudget(budget: { readonly limit: number }): void {
    this.dropStream();
    this.finish(
      new ProtocolError(
        'HL_ERR_PARTIAL_BYTES',
        CloseCode.TRY_AGAIN_LATER,
        `the server's maxPartialBytes (${budget.limit} bytes) is exhausted and this message holds the most`,
      ),
    );
  }

  private createStream(): ZlibStream {
    let stream: ZlibStream;
    if (this.inflate) {
      // Inflating with exactly the agreed window: zlib accepts 8 for raw inflate.
      stream = zlib.createInflateRaw({ windowBits: this.windowBits }) as ZlibStream;
      stream.on('data', onInflateData);
    } else {
      stream = zlib.createDeflateRaw({
        // 8 bits: see deflaterWindowBits (RFC 7692 §7.1.2.1).
        windowBits: deflaterWindowBits(this.windowBits),
        level: this.level,
        memLevel: this.memLevel,
      }) as ZlibStream;
      stream.on('data', onDeflateOutput);
    }
    stream[kCollector] = this;
    // Kept for the stream's whole life: an 'error' with no listener would throw.
    stream.on('error', onZlibError);
    this.stream = stream;
    return stream;
  }

  private flushed(stream: ZlibStream, job: Job, error: Error | null | undefined): void {
    // Settled already (limit exceeded, corrupt data, closed): nothing to do.
    if (this.current !== job || this.stream !== stream) return;
    if (error) {
      // zlib reports its errors through 'error', before this; in case a stream ever
      // fails the flush instead, the job must not succeed with partial output.
      this.failed(error);
      return;
    }
    if (stream.readableLength > 0) {
      // Paused for a turn, zlib may finish with its last output still in the stream's
      // buffer: take it now (its bytes count against the next turn).
      const waiting = this.waitingTurn;
      this.waitingTurn = true;
      while (stream.read() !== null);
      this.waitingTurn = waiting;
      if (this.current !== job || this.stream !== stream) return;
    }
    let out = joinChunks(this.chunks, this.total);
    if (this.inflate) {
      // A peer may end a message with a final block (RFC 7692 §7.2.3.4); zlib then ends
      // the stream and ignores later input, so the next message needs a new one.
      if (this.noContextTakeover || stream.readableEnded) this.dropStream();
    } else {
      // §7.2.1: remove the trailing 00 00 ff ff.
      const payload = messagePayload(out);
      if (payload instanceof Error) {
        this.finish(payload);
        return;
      }
      out = payload;
      // §7.1.1: without context takeover the next message starts from an empty window;
      // freeing the stream (rather than resetting it) returns its memory meanwhile.
      if (this.noContextTakeover) this.dropStream();
    }
    this.finish(null, out);
  }

  /** The inflated size passed `maxPayload`: stop zlib at once and discard everything. */
  tooBig(): void {
    this.dropStream();
    this.finish(
      new ProtocolError(
        'HL_ERR_MESSAGE_TOO_BIG',
        CloseCode.MESSAGE_TOO_BIG,
        `inflated message exceeds the ${this.maxPayload}-byte limit`,
      ),
    );
  }

  failed(error: Error): void {
    // zlib has closed a stream that emitted 'error' (closing again is harmless); a new
    // one is made if ever needed.
    this.dropStream();
    if (this.current === null) return;
    this.finish(
      this.inflate
        ? new ProtocolError(
            'HL_ERR_INVALID_COMPRESSED_DATA',
            CloseCode.INVALID_PAYLOAD,
            `invalid compressed data: ${error.message}`,
          )
        : error,
    );
  }

  dropStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    // close() stops zlib between two output chunks: no further 'data', and the pending
    // flush callback gets ERR_STREAM_DESTROYED, which `flushed` ignores.
    stream.close();
  }

  private finish(error: HotlineError | Error | null, result?: Buffer): void {
    const job = this.current!;
    this.current = null;
    this.chunks = [];
    this.total = 0;
    this.endTurnWait();
    this.budget?.release(this);
    const release = this.release;
    this.release = null;
    this.busy = false;
    release?.();
    try {
      if (error === null) job.callback(null, result);
      else job.callback(error);
    } finally {
      this.next();
    }
  }

  /**
   * Frees the stream and the limiter slot; returns the jobs not yet called back, in
   * order, for the caller to fail once everything is released.
   */
  /** A job that ends while waiting for a turn leaves the queue, and its stream flows again. */
  private endTurnWait(): void {
    if (!this.waitingTurn) return;
    this.waitingTurn = false;
    this.scheduler?.cancel(this);
    this.stream?.resume();
  }

  close(): Job[] {
    if (this.closed) return [];
    this.closed = true;
    this.endTurnWait();
    this.budget?.release(this);
    this.dropStream();
    const pending: Job[] = [];
    if (this.current !== null) pending.push(this.current);
    pending.push(...this.queue);
    this.queue.length = 0;
    this.current = null;
    this.chunks = [];
    this.total = 0;
    if (this.release !== null) {
      this.release();
      this.release = null;
    }
    return pending;
  }
}

// A module-level listener, shared by every stream: no closures per connection.
function onInflateData(this: ZlibStream, chunk: Buffer): void {
  const lane = this[kCollector];
  if (lane.stream !== this || lane.current === null) return;
  lane.total += chunk.length;
  // RFC 7692 §8 leaves the limit to us; checked per zlib output chunk, so the total
  // kept never passes maxPayload and the overshoot is one chunk that is dropped.
  if (lane.total > lane.maxPayload) {
    lane.tooBig();
    return;
  }
  lane.chunks.push(chunk);
  lane.produced(chunk.length);
}


/**
 * permessage-deflate for one connection. Structurally the shell's `MessageCodec`.
 */
export class PerMessageDeflate {
  private readonly deflater: Lane;
  private readonly inflater: Lane;
  private readonly threshold: number;
  /** Set when this side compresses without context takeover (RFC 7692 §7.1.1.1). */
  private readonly shared: SharedDeflater | null;
  private closed = false;

  constructor(params: DeflateParams, side: Side, options: DeflateCodecOptions) {
    const { maxPayload } = options;
    if (typeof maxPayload !== 'number' || !(maxPayload > 0)) {
      throw invalidArgument('maxPayload must be a number > 0 (Infinity for no limit)');
    }
    const level = options.level ?? DEFLATE_DEFAULTS.level;
    const memLevel = options.memLevel ?? DEFLATE_DEFAULTS.memLevel;
    const threshold = options.threshold ?? DEFLATE_DEFAULTS.threshold;
    if (!Number.isInteger(level) || level < 0 || level > 9) throw invalidArgument('level must be in 0..9');
    if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) throw invalidArgument('memLevel must be in 1..9');
    if (typeof threshold !== 'number' || !(threshold >= 0)) throw invalidArgument('threshold must be >= 0');
    for (const bits of [params.serverMaxWindowBits, params.clientMaxWindowBits]) {
      if (!Number.isInteger(bits) || bits < 8 || bits > 15) throw invalidArgument('window bits must be in 8..15');
    }
    const limiter = options.limiter ?? zlibLimiter;
    const server = side === Side.SERVER;
    // Each end compresses under its own parameters and inflates under the peer's.
    const ownWindowBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    const ownNoContextTakeover = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.deflater = new Lane(
      false,
      ownWindowBits,
      ownNoContextTakeover,
      limiter,
      Infinity,
      level,
      memLevel,
    );
    this.inflater = new Lane(
      true,
      server ? params.clientMaxWindowBits : params.serverMaxWindowBits,
      server ? params.clientNoContextTakeover : params.serverNoContextTakeover,
      limiter,
      maxPayload,
      level,
      memLevel,
      options.inflateScheduler ?? null,
      options.partialBudget ?? null,
    );
    this.threshold = threshold;
    this.shared = ownNoContextTakeover ? sharedDeflater(limiter, ownWindowBits, level, memLevel) : null;
  }

  /**
   * Whether a message of `length` bytes is worth compressing by default. The per-send
   * switch (`SendOptions.compress`) overrides it either way; any message may be sent
   * uncompressed (RFC 7692 §6: RSV1 is per message).
   */
  shouldCompress(length: number): boolean {
    return length >= this.threshold;
  }

  /**
   * Compresses a whole message. The result lacks the trailing 00 00 ff ff (§7.2.1) and
   * goes into frames whose first one has RSV1 set (§6). Callbacks complete in call order.
   */
  compress(data: MessageData, callback: CompressCallback): void {
    if (this.closed) throw invalidState('permessage-deflate codec is closed');
    this.deflater.enqueue({ data, callback });
  }

  /**
   * For a message sent to many connections: when this side compresses without context
   * takeover (RFC 7692 §7.1.1.1), the output depends on nothing but the message and the
   * settings, so this joins the one compression every codec with the same window bits
   * and zlib settings shares, and calls back with the whole frame (RSV1 set). Returns
   * the shared job (to `cancel` if the connection closes first), or null when this side
   * keeps its context: then only `compress` is right.
   */
  compressShared(message: SharedMessage, callback: SharedFrameCallback): SharedDeflation | null {
    if (this.closed) throw invalidState('permessage-deflate codec is closed');
    if (this.shared === null) return null;
    return shareDeflation(message, this.shared, callback);
  }

  /**
   * Inflates a whole compressed message: the payloads of all its frames, in order, as
   * one buffer or a list. Fails with a 1009 `ProtocolError` as soon as the output
   * passes `maxPayload`, with 1007 on corrupt data. Callbacks complete in call order.
   */
  decompress(data: MessageData, callback: DecompressCallback): void {
    if (this.closed) throw invalidState('permessage-deflate codec is closed');
    this.inflater.enqueue({ data, callback: callback as Job['callback'] });
  }

  /**
   * Frees both zlib streams and any limiter slot. Callbacks still pending are called at
   * once with an `HL_ERR_INVALID_STATE` error (each direction in call order, inflation
   * first) and never later; compress/decompress throw from then on. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const error = invalidState('permessage-deflate codec was closed');
    // Release everything first: a callback that throws must not leave zlib memory or a
    // limiter slot behind, nor keep the other callbacks from running.
    const pending = [...this.inflater.close(), ...this.deflater.close()];
    let thrown: unknown = null;
    for (const job of pending) {
      try {
        job.callback(error);
      } catch (err) {
        thrown ??= err;
      }
    }
    if (thrown !== null) throw thrown;
  }

  /** The concurrency limit this codec's jobs queue on (its server's, or the clients'). */
  get limiter(): ZlibLimiter {
    return this.deflater.limiter;
  }

  /** zlib streams this codec holds right now (0..2): for tests and measurements. */
  get zlibStreams(): number {
    return (this.deflater.stream === null ? 0 : 1) + (this.inflater.stream === null ? 0 : 1);
  }
}
