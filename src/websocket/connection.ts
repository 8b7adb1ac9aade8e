import type { Socket } from 'node:net';
import { CloseCode, HotlineError, ProtocolError } from '../errors.js';
import { type Chunk, Protocol, type ProtocolEvent, State, encodeClosePayload } from '../protocol/protocol.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import type { Side } from '../protocol/side.js';
import { Opcode } from '../protocol/opcode.js';
import { COPY_THRESHOLD, encodeFrameContiguous } from '../protocol/frame-encoder.js';
import type { SendResult } from '../types.js';
import type { Sweep, Sweepable } from './sweep.js';
import type { MessageCodec } from './codec.js';

/**
 * The connection shell: binds a sans-I/O `Protocol` to a socket. Every read runs in the
 * same order (STYLE.md §2): feed bytes → write what the protocol must answer (pong, close
 * echo) → hand events to user code, whose sends are queued → write everything in one
 * batch → close the transport if the protocol says so. Deadlines (close, idle, heartbeat)
 * come from a shared `Sweep`, never from a timer per connection.
 *
 * Subclasses (the server's peer, the client's WebSocket) receive events through the
 * `on*` methods; no EventEmitter and no per-connection closures.
 */

export interface ConnectionOptions {
  side: Side;
  maxPayload: number;
  maxFragments: number;
  /** ms to wait for the peer's part of the closing handshake before dropping TCP. */
  closeTimeout: number;
  /** ms without receiving anything before the connection is dropped (0 = never). */
  idleTimeout: number;
  /** Send a Ping when half of `idleTimeout` has passed in silence. */
  sendPings: boolean;
  /** Above this many buffered bytes, `send` drops messages (Infinity = never). */
  maxBufferedAmount: number;
  /** permessage-deflate, when negotiated. */
  codec: MessageCodec | null;
  /** Negotiated subprotocol and extensions, reported to the application. */
  protocol: string;
  extensions: string;
}

/**
 * The frames of one flush go out in one write. Small ones are merged into one buffer (one
 * syscall, no writev bookkeeping); once a payload above the encoder's copy threshold is
 * among them, they go out with writev instead, so that payload is never copied here.
 */
const MERGE_LIMIT = 64 * 1024;
/** A whole small frame: a payload the encoder copies, plus the longest header (§5.2). */
const MERGE_CHUNK_LIMIT = COPY_THRESHOLD + 14;

const kConnection = Symbol('hotline.connection');
type OwnedSocket = Socket & { [kConnection]?: WebSocketConnection };

/** A message already encoded for every server-side peer (publish encodes once). */
export interface SharedFrame {
  readonly data: Buffer;
  readonly isBinary: boolean;
  frame?: Buffer;
}

export abstract class WebSocketConnection implements Sweepable {
  readonly socket: Socket;
  protected readonly protocolState: Protocol;
  protected readonly sweepRef: Sweep;
  readonly protocol: string;
  readonly extensions: string;

  private readonly closeTimeout: number;
  private readonly idleTimeout: number;
  private readonly sendPings: boolean;
  private readonly maxBufferedAmount: number;
  private readonly codec: MessageCodec | null;

  private lastReceived: number;
  private pingSent = false;
  private closeDeadline = 0;
  private flushScheduled = false;
  /** While user code runs for a read, sends are only queued; the read's end flushes them. */
  private dispatching = false;
  private drainWanted = false;
  private finished = false;
  /** Events waiting behind a message being inflated (RFC 7692: order must hold). */
  private blocked: ProtocolEvent[] | null = null;
  /** Messages waiting for compression, so that sends leave in order. */
  private compressing = 0;
  private sendQueue: Array<{ data: Buffer; binary: boolean }> | null = null;
  /** User code threw: no more events are delivered. */
  private aborted = false;
  private failed: Error | null = null;
  /**
   * A socket error (a reset, mostly), kept raw: wrapping it captures a stack trace, which
   * is wasted on the many peers that vanish with nobody asking why.
   */
  private socketError: Error | null = null;

  /** Why the connection failed, reported with the close. */
  protected get failure(): Error | null {
    if (this.failed === null && this.socketError !== null) {
      this.failed = new HotlineError('HL_ERR_SOCKET', this.socketError.message, { cause: this.socketError });
    }
    return this.failed;
  }

  protected set failure(error: Error | null) {
    this.failed = error;
  }

  constructor(socket: Socket, sweep: Sweep, options: ConnectionOptions, head?: Buffer) {
    this.socket = socket;
    this.sweepRef = sweep;
    this.protocol = options.protocol;
    this.extensions = options.extensions;
    this.closeTimeout = options.closeTimeout;
    this.idleTimeout = options.idleTimeout;
    this.sendPings = options.sendPings;
    this.maxBufferedAmount = options.maxBufferedAmount;
    this.codec = options.codec;
    this.protocolState = new Protocol({
      side: options.side,
      allowRsv1: options.codec !== null,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
    });
    this.lastReceived = sweep.now;

    const owned = socket as OwnedSocket;
    owned[kConnection] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    sweep.add(this);
    if (head !== undefined && head.length > 0) this.receive(head);
  }

  // ---- Hooks for the owner ---------------------------------------------------------------

  protected abstract onMessage(data: Buffer, isBinary: boolean): void;
  protected abstract onClose(code: number, reason: string, wasClean: boolean): void;
  protected onPing(_data: Buffer): void {}
  protected onPong(_data: Buffer): void {}
  protected onDrain(): void {}
  protected onError(_error: Error): void {}

  // ---- State -----------------------------------------------------------------------------

  get readyState(): 1 | 2 | 3 {
    if (this.finished) return State.CLOSED;
    // close() waiting for compressed messages to leave has started closing all the same.
    return this.protocolState.state === State.OPEN && this.pendingClose === null ? State.OPEN : State.CLOSING;
  }

  /** Bytes accepted by `send` and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.protocolState.pendingBytes + this.socket.writableLength + this.queuedForCompression();
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  private queuedForCompression(): number {
    if (this.sendQueue === null) return 0;
    let total = 0;
    for (const item of this.sendQueue) total += item.data.length;
    return total;
  }

  // ---- Sending ---------------------------------------------------------------------------

  /**
   * Queues a whole message. Returns `sent` when nothing was waiting ahead of it,
   * `buffered` when the socket is backed up (`onDrain` follows), `dropped` when the
   * connection is closing or over `maxBufferedAmount`.
   */
  sendData(data: Buffer, isBinary: boolean, compress: boolean | undefined): SendResult {
    if (this.protocolState.closeSent !== null || this.pendingClose !== null || this.finished) return 'dropped';
    if (this.protocolState.fragmenting) return 'dropped';
    if (this.overLimit(data.length)) return 'dropped';
    if (this.codec !== null && (compress ?? this.codec.shouldCompress(data.length))) {
      this.enqueueCompressed(data, isBinary);
    } else if (this.sendQueue !== null) {
      // Keep order behind messages still being compressed.
      this.sendQueue.push({ data, binary: isBinary });
      this.sendQueue.push(UNCOMPRESSED_MARK);
    } else {
      this.protocolState.sendMessage(data, isBinary);
      this.scheduleFlush();
    }
    return this.sendResult();
  }

  /**
   * Backpressure is the kernel refusing bytes (the socket asked for a drain), not our own
   * batching: frames queued in this tick and flushed at its end are "sent".
   */
  private sendResult(): SendResult {
    if (this.socket.writableNeedDrain || this.sendQueue !== null) {
      this.drainWanted = true;
      return 'buffered';
    }
    return 'sent';
  }

  private overLimit(length: number): boolean {
    const buffered = this.bufferedAmount;
    if (buffered > 0 && buffered + length > this.maxBufferedAmount) {
      this.drainWanted = true;
      return true;
    }
    return false;
  }

  /** Sends a frame shared by many peers, encoding it on first use (server side only). */
  sendShared(message: SharedFrame): SendResult {
    if (this.protocolState.closeSent !== null || this.finished || this.protocolState.fragmenting) return 'dropped';
    if (this.sendQueue !== null || (this.codec !== null && this.codec.shouldCompress(message.data.length))) {
      return this.sendData(message.data, message.isBinary, undefined);
    }
    if (this.overLimit(message.data.length)) return 'dropped';
    if (message.frame === undefined) {
      message.frame = encodeFrameContiguous(message.isBinary ? Opcode.BINARY : Opcode.TEXT, message.data, {
        fin: true,
        rsv1: false,
        mask: null,
      });
    }
    this.protocolState.sendEncoded(message.frame);
    this.scheduleFlush();
    return this.sendResult();
  }

  /** Streams one fragment of a message (RFC 6455 §5.4); uncompressed. */
  sendFragmentData(data: Buffer, isBinary: boolean, fin: boolean): SendResult {
    if (this.protocolState.closeSent !== null || this.finished || this.sendQueue !== null) return 'dropped';
    // Over the limit, a new message is refused; a message already started is completed
    // (dropping one of its fragments would corrupt it) and the caller is told to wait.
    if (!this.protocolState.fragmenting && this.overLimit(data.length)) return 'dropped';
    const over = this.bufferedAmount + data.length > this.maxBufferedAmount;
    this.protocolState.sendFragment(data, isBinary, fin);
    this.scheduleFlush();
    if (over) {
      this.drainWanted = true;
      return 'buffered';
    }
    return this.sendResult();
  }

  ping(data?: Buffer): void {
    if (this.protocolState.closeSent !== null || this.finished) return;
    this.protocolState.sendPing(data);
    this.scheduleFlush();
  }

  pong(data?: Buffer): void {
    if (this.protocolState.closeSent !== null || this.finished) return;
    this.protocolState.sendPong(data);
    this.scheduleFlush();
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2) and arms the close deadline. Invalid
   * codes or reasons throw `HL_ERR_INVALID_ARGUMENT` before anything is sent.
   */
  close(code: number = CloseCode.NO_STATUS, reason = ''): void {
    if (this.finished || this.protocolState.closeSent !== null || this.pendingClose !== null) return;
    if (this.sendQueue !== null) {
      // Let compressed messages ahead of the close leave first. Bad arguments throw now,
      // not later from a zlib callback where nothing would catch them.
      encodeClosePayload(code, reason);
      this.pendingClose = { code, reason };
      return;
    }
    this.protocolState.sendClose(code, reason);
    this.closeDeadline = Date.now() + this.closeTimeout;
    this.afterProtocolStep();
  }

  private pendingClose: { code: number; reason: string } | null = null;

  /** Drops the connection at once (no closing handshake). */
  terminate(): void {
    if (this.finished) return;
    this.socket.destroy();
  }

  // ---- Receiving -------------------------------------------------------------------------

  /** @internal Called for each chunk read from the socket. */
  receive(chunk: Buffer): void {
    this.lastReceived = this.sweepRef.now;
    this.pingSent = false;
    if (this.aborted) return;
    if (this.blocked !== null) {
      // Parsing is paused while a message inflates; the socket is paused too, but a
      // chunk may already be on its way.
      this.protocolState.receiveData(chunk);
      this.blocked.push(...this.protocolState.eventsReceived());
      return;
    }
    this.protocolState.receiveData(chunk);
    this.writeOut(); // pongs and close echoes first
    this.dispatch(this.protocolState.eventsReceived(), 0);
  }

  private dispatch(events: ProtocolEvent[], from: number): void {
    this.dispatching = true;
    try {
      for (let i = from; i < events.length; i++) {
        const event = events[i]!;
        if (event.type === 'message' && event.compressed) {
          this.inflate(event.data, event.binary, events, i + 1);
          return;
        }
        this.deliverEvent(event);
        if (this.finished || this.aborted) break;
      }
    } finally {
      this.dispatching = false;
    }
    this.afterProtocolStep();
  }

  private deliverEvent(event: ProtocolEvent): void {
    switch (event.type) {
      case 'message':
        this.safely(deliverMessage, event.data, event.binary);
        break;
      case 'ping':
        this.safely(deliverPing, event.data, false);
        break;
      case 'pong':
        this.safely(deliverPong, event.data, false);
        break;
      case 'close':
        this.closeDeadline = Date.now() + this.closeTimeout;
        break;
      case 'error':
        this.failure = event.error;
        this.safely(deliverError, event.error, false);
        break;
    }
  }

  /** User code never throws into the socket's event handler: a throw fails this peer with 1011. */
  private safely(fn: (self: WebSocketConnection, value: any, flag: boolean) => void, value: unknown, flag: boolean): void {
    try {
      fn(this, value, flag);
    } catch (error) {
      this.internalError(error);
    }
  }

  /** Fails the connection with 1011 because application code threw (details withheld). */
  failInternally(error: unknown): void {
    this.internalError(error);
    this.afterProtocolStep();
  }

  private internalError(error: unknown): void {
    this.aborted = true;
    const failure = new ProtocolError('HL_ERR_INVALID_STATE', CloseCode.INTERNAL_ERROR, 'internal error');
    (failure as { cause?: unknown }).cause = error;
    if (this.failure === null) this.failure = error instanceof Error ? error : failure;
    this.protocolState.fail(failure);
    this.protocolState.eventsReceived(); // the error event is ours; do not loop back into user code
    this.closeDeadline = Date.now() + this.closeTimeout;
  }

  private inflate(data: Buffer, binary: boolean, events: ProtocolEvent[], rest: number): void {
    this.dispatching = false;
    this.writeOut(); // what user code sent for earlier messages leaves now
    this.blocked = events.slice(rest);
    this.socket.pause();
    this.codec!.decompress(data, (error, result) => {
      if (this.finished) return;
      const queued = this.blocked ?? [];
      this.blocked = null;
      this.socket.resume();
      if (error) {
        this.failWith(error instanceof ProtocolError ? error : new ProtocolError('HL_ERR_INVALID_COMPRESSED_DATA', CloseCode.INVALID_PAYLOAD, 'invalid compressed data'));
        return;
      }
      // RFC 6455 §8.1 applies to the inflated text.
      if (!binary && !isValidUtf8(result!)) {
        this.failWith(new ProtocolError('HL_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'invalid UTF-8 in text message'));
        return;
      }
      this.dispatching = true;
      this.safely(deliverMessage, result!, binary);
      this.dispatching = false;
      this.writeOut();
      this.dispatch(queued, 0);
    });
  }

  private failWith(error: ProtocolError): void {
    this.protocolState.fail(error);
    this.protocolState.eventsReceived();
    this.failure = error;
    this.safely(deliverError, error, false);
    this.closeDeadline = Date.now() + this.closeTimeout;
    this.afterProtocolStep();
  }

  // ---- Compression -------------------------------------------------------------------------

  private enqueueCompressed(data: Buffer, binary: boolean): void {
    if (this.sendQueue === null) this.sendQueue = [];
    this.sendQueue.push({ data, binary });
    this.compressing++;
    this.codec!.compress(data, (error, compressed) => {
      this.compressing--;
      if (this.finished) return;
      if (error) {
        this.internalError(error);
        this.afterProtocolStep();
        return;
      }
      this.compressedReady(data, compressed!);
    });
  }

  /** Compression finishes in call order; release messages from the head of the queue. */
  private compressedReady(original: Buffer, compressed: Buffer): void {
    const queue = this.sendQueue!;
    const head = queue.shift()!;
    if (head.data !== original) throw new Error('compression completed out of order');
    if (this.protocolState.closeSent === null) this.protocolState.sendMessage(compressed, head.binary, true);
    // Uncompressed messages queued behind it can go now, up to the next compressed one.
    while (queue.length > 1 && queue[1] === UNCOMPRESSED_MARK) {
      const item = queue.shift()!;
      queue.shift();
      if (this.protocolState.closeSent === null) this.protocolState.sendMessage(item.data, item.binary);
    }
    if (queue.length === 0) {
      this.sendQueue = null;
      if (this.pendingClose !== null) {
        const { code, reason } = this.pendingClose;
        this.pendingClose = null;
        this.close(code, reason);
        return;
      }
    }
    this.scheduleFlush();
  }

  // ---- Writing ---------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.dispatching || this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flushConnection, this);
  }

  /** @internal */
  flush(): void {
    this.flushScheduled = false;
    this.afterProtocolStep();
    // Compressed sends answer `buffered`. Once the last of them is handed to a socket
    // that is not backed up itself, the socket will emit no 'drain': this is the drain.
    if (this.drainWanted && this.sendQueue === null && !this.socket.writableNeedDrain) this.drained();
  }

  /** Writes what is queued, then closes the transport if the protocol expects it. */
  private afterProtocolStep(): void {
    this.writeOut();
    if (this.protocolState.closeExpected && !this.socket.writableEnded) {
      // RFC 6455 §7.1.1: the server closes TCP first; after a failure, either side does.
      this.socket.end();
      if (this.closeDeadline === 0) this.closeDeadline = Date.now() + this.closeTimeout;
    }
  }

  private writeOut(): void {
    const chunks = this.protocolState.dataToSend();
    const count = chunks.length;
    if (count === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    if (count === 1) {
      this.socket.write(chunks[0]!);
      return;
    }
    let total = 0;
    let largest = 0;
    for (let i = 0; i < count; i++) {
      const length = chunks[i]!.length;
      total += length;
      if (length > largest) largest = length;
    }
    if (total <= MERGE_LIMIT && largest <= MERGE_CHUNK_LIMIT) {
      this.socket.write(concat(chunks, total));
      return;
    }
    // Large payloads go out with writev, never copied.
    this.socket.cork();
    for (let i = 0; i < count; i++) this.socket.write(chunks[i]!);
    this.socket.uncork();
  }

  // ---- Deadlines -------------------------------------------------------------------------

  /** @internal Called by the shared sweep. */
  sweep(now: number): void {
    if (this.closeDeadline !== 0) {
      if (now >= this.closeDeadline) {
        if (this.failure === null) this.failure = new HotlineError('HL_ERR_CLOSE_TIMEOUT', 'closing handshake timed out');
        this.socket.destroy();
      }
      return;
    }
    if (this.idleTimeout <= 0) return;
    const idle = now - this.lastReceived;
    if (idle >= this.idleTimeout) {
      this.failure = new HotlineError('HL_ERR_IDLE_TIMEOUT', `nothing received for ${this.idleTimeout} ms`);
      this.socket.destroy();
    } else if (this.sendPings && !this.pingSent && idle >= this.idleTimeout / 2) {
      this.pingSent = true;
      this.ping();
    }
  }

  // ---- Socket events -----------------------------------------------------------------------

  /** @internal */
  handleEnd(): void {
    // §7.1.1 / §7.1.5: the peer closed TCP. Without a Close frame first, this is 1006.
    this.protocolState.receiveEof();
    if (!this.socket.writableEnded) this.socket.end();
  }

  /** @internal */
  handleSocketError(error: Error): void {
    if (this.failed === null && this.socketError === null) this.socketError = error;
  }

  /** @internal */
  handleDrain(): void {
    if (!this.drainWanted || this.finished) return;
    if (this.bufferedAmount > 0) return;
    this.drained();
  }

  private drained(): void {
    if (this.finished) return;
    this.drainWanted = false;
    try {
      this.onDrain();
    } catch (error) {
      this.internalError(error);
      this.afterProtocolStep();
    }
  }

  /** @internal The TCP connection is gone: report the close exactly once. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.sweepRef.delete(this);
    this.codec?.close();
    this.blocked = null;
    this.sendQueue = null;
    const { closeReceived, closeSent } = this.protocolState;
    this.protocolState.receiveEof();
    // §7.1.5: the close code is the one in the peer's Close frame; 1006 when none came.
    let code: number = CloseCode.ABNORMAL;
    let reason = '';
    if (closeReceived !== null) {
      code = closeReceived.code;
      reason = closeReceived.reason;
    }
    const wasClean = closeReceived !== null && closeSent !== null;
    try {
      this.onClose(code, reason, wasClean);
    } catch {
      // The connection is already gone; nothing left to fail.
    }
  }
}

const UNCOMPRESSED_MARK = { data: Buffer.alloc(0), binary: false };

function concat(chunks: Chunk[], total: number): Buffer {
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

// Module-level listeners: `this` is the socket; no closure per connection.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kConnection]!.receive(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  this[kConnection]!.handleEnd();
}
function onSocketClose(this: OwnedSocket): void {
  this[kConnection]!.finish();
}
function onSocketError(this: OwnedSocket, error: Error): void {
  this[kConnection]!.handleSocketError(error);
}
function onSocketDrain(this: OwnedSocket): void {
  this[kConnection]!.handleDrain();
}
function flushConnection(connection: WebSocketConnection): void {
  connection.flush();
}

// Dispatchers reached through `safely` (protected hooks called from module scope).
function deliverMessage(self: WebSocketConnection, data: Buffer, binary: boolean): void {
  (self as unknown as { onMessage(d: Buffer, b: boolean): void }).onMessage(data, binary);
}
function deliverPing(self: WebSocketConnection, data: Buffer): void {
  (self as unknown as { onPing(d: Buffer): void }).onPing(data);
}
function deliverPong(self: WebSocketConnection, data: Buffer): void {
  (self as unknown as { onPong(d: Buffer): void }).onPong(data);
}
function deliverError(self: WebSocketConnection, error: Error): void {
  (self as unknown as { onError(e: Error): void }).onError(error);
}
