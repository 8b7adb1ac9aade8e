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
import type { SharedDeflation, SharedMessage } from './shared-deflate.js';

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

/**
 * A message already encoded for every server-side peer (publish encodes once): the plain
 * frame, and the compressions shared by peers without context takeover.
 */
export interface SharedFrame extends SharedMessage {
  frame?: Buffer;
}

/** How a queued message goes out once it is at the head of the send queue. */
const PLAIN = 0; // `data` as it is
const DEFLATED = 1; // `out`: this connection's compressed payload, null until ready
const ENCODED = 2; // `out`: a whole frame built once for many peers, null until compressed

/**
 * A message in the send queue. RFC 7692 compresses whole messages, asynchronously, and
 * a connection's own and shared compressions finish in no fixed order with each other:
 * the queue keeps messages in send order until each is ready.
 */
class Outgoing {
  constructor(
    readonly data: Buffer,
    readonly binary: boolean,
    readonly kind: typeof PLAIN | typeof DEFLATED | typeof ENCODED,
    public out: Buffer | null,
    /** The shared compression this message waits for, to leave if the connection closes. */
    public shared: SharedDeflation | null,
  ) {}
}

/**
 * What the connections of one sweep (one server, or every client) nearly always share:
 * kept once and pointed at, rather than copied into each connection.
 */
interface SharedSettings {
  readonly sweep: Sweep;
  readonly closeTimeout: number;
  readonly idleTimeout: number;
  readonly sendPings: boolean;
  readonly maxBufferedAmount: number;
}

/** The settings last used with each sweep; a connection with the same values reuses them. */
const settingsBySweep = new WeakMap<Sweep, SharedSettings>();

function sharedSettings(sweep: Sweep, options: ConnectionOptions): SharedSettings {
  const last = settingsBySweep.get(sweep);
  if (
    last !== undefined &&
    last.closeTimeout === options.closeTimeout &&
    last.idleTimeout === options.idleTimeout &&
    last.sendPings === options.sendPings &&
    last.maxBufferedAmount === options.maxBufferedAmount
  ) {
    return last;
  }
  const settings: SharedSettings = {
    sweep,
    closeTimeout: options.closeTimeout,
    idleTimeout: options.idleTimeout,
    sendPings: options.sendPings,
    maxBufferedAmount: options.maxBufferedAmount,
  };
  settingsBySweep.set(sweep, settings);
  return settings;
}

/**
 * What the opening handshake settled (subprotocol, extensions, the permessage-deflate
 * codec) and, with a codec, the state of the compression pipeline. Most connections
 * negotiate nothing and share `NOTHING_NEGOTIATED`; it is never written, because only a
 * connection with a codec ever fills the pipeline fields.
 */
class Negotiated {
  /** Events waiting behind a message being inflated (RFC 7692: order must hold). */
  blocked: ProtocolEvent[] | null = null;
  /** Messages behind one being compressed, so that sends leave in order. */
  sendQueue: Outgoing[] | null = null;
  /** A close() that waits for the compressed messages ahead of it. */
  pendingClose: { code: number; reason: string } | null = null;

  constructor(
    readonly protocol: string,
    readonly extensions: string,
    readonly codec: MessageCodec | null,
  ) {}
}

const NOTHING_NEGOTIATED = new Negotiated('', '', null);

// The boolean state of a connection, as bits of one small integer: a field each would
// cost every connection 8 bytes.
const PING_SENT = 1;
const FLUSH_SCHEDULED = 2;
/** While user code runs for a read, sends are only queued; the read's end flushes them. */
const DISPATCHING = 4;
const DRAIN_WANTED = 8;
const FINISHED = 16;
/** User code threw: no more events are delivered. */
const ABORTED = 32;
/** `failed` holds a socket error not yet wrapped (see `failure`). */
const RAW_SOCKET_ERROR = 64;

export abstract class WebSocketConnection implements Sweepable {
  readonly socket: Socket;
  protected readonly protocolState: Protocol;
  private readonly settings: SharedSettings;
  private readonly negotiated: Negotiated;
  private flags = 0;
  /**
   * Sweep ticks since something was last received, as uSockets counts them: a small
   * integer, which V8 stores in the object itself, where a timestamp (beyond 31 bits)
   * would take a 16-byte heap number for every connection.
   */
  private idleTicks = 0;
  /**
   * When to drop TCP if the closing handshake has not completed (ms, `Date.now()`); null
   * until a close starts. Null, not 0: a field that has held only small integers gets a
   * heap number of its own in every connection once a timestamp is stored in any of them.
   */
  private closeDeadline: number | null = null;
  /**
   * Why the connection failed. A socket error (a reset, mostly) is kept raw until asked
   * for: wrapping it captures a stack trace, which is wasted on the many peers that
   * vanish with nobody asking why.
   */
  private failed: Error | null = null;

  /** Why the connection failed, reported with the close. */
  protected get failure(): Error | null {
    if ((this.flags & RAW_SOCKET_ERROR) !== 0) {
      this.flags &= ~RAW_SOCKET_ERROR;
      const cause = this.failed!;
      this.failed = new HotlineError('HL_ERR_SOCKET', cause.message, { cause });
    }
    return this.failed;
  }

  protected set failure(error: Error | null) {
    this.flags &= ~RAW_SOCKET_ERROR;
    this.failed = error;
  }

  constructor(socket: Socket, sweep: Sweep, options: ConnectionOptions, head?: Buffer) {
    this.socket = socket;
    this.settings = sharedSettings(sweep, options);
    this.negotiated =
      options.codec === null && options.protocol === '' && options.extensions === ''
        ? NOTHING_NEGOTIATED
        : new Negotiated(options.protocol, options.extensions, options.codec);
    this.protocolState = new Protocol({
      side: options.side,
      allowRsv1: options.codec !== null,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
    });

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

  /** Negotiated subprotocol ('' when none). */
  get protocol(): string {
    return this.negotiated.protocol;
  }

  /** Negotiated extensions, as the response header's value ('' when none). */
  get extensions(): string {
    return this.negotiated.extensions;
  }

  private get finished(): boolean {
    return (this.flags & FINISHED) !== 0;
  }

  private get aborted(): boolean {
    return (this.flags & ABORTED) !== 0;
  }

  private get drainWanted(): boolean {
    return (this.flags & DRAIN_WANTED) !== 0;
  }

  /**
   * No frame may be sent any more: ours was the Close (§5.5.1), or the peer's stream ended
   * (§7.1.1; until the socket closes, a send must be dropped, not thrown from the protocol
   * core into a timer), or the connection is gone.
   */
  private get sendingEnded(): boolean {
    const protocol = this.protocolState;
    return protocol.closeSent !== null || protocol.state === State.CLOSED || this.finished;
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
    return this.protocolState.state === State.OPEN && this.negotiated.pendingClose === null ? State.OPEN : State.CLOSING;
  }

  /** Bytes accepted by `send` and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.protocolState.pendingBytes + this.socket.writableLength + this.queuedForCompression();
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  private queuedForCompression(): number {
    const queue = this.negotiated.sendQueue;
    if (queue === null) return 0;
    let total = 0;
    for (const item of queue) total += item.data.length;
    return total;
  }

  // ---- Sending ---------------------------------------------------------------------------

  /**
   * Queues a whole message. Returns `sent` when nothing was waiting ahead of it,
   * `buffered` when the socket is backed up (`onDrain` follows), `dropped` when the
   * connection is closing or over `maxBufferedAmount`.
   */
  sendData(data: Buffer, isBinary: boolean, compress: boolean | undefined): SendResult {
    const { codec, sendQueue, pendingClose } = this.negotiated;
    if (this.sendingEnded || pendingClose !== null) return 'dropped';
    if (this.protocolState.fragmenting) return 'dropped';
    if (this.overLimit(data.length)) return 'dropped';
    if (codec !== null && (compress ?? codec.shouldCompress(data.length))) {
      this.enqueueCompressed(data, isBinary);
    } else if (sendQueue !== null) {
      // Keep order behind messages still being compressed.
      sendQueue.push(new Outgoing(data, isBinary, PLAIN, null, null));
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
    if (this.socket.writableNeedDrain || this.negotiated.sendQueue !== null) {
      this.flags |= DRAIN_WANTED;
      return 'buffered';
    }
    return 'sent';
  }

  private overLimit(length: number): boolean {
    const buffered = this.bufferedAmount;
    if (buffered > 0 && buffered + length > this.settings.maxBufferedAmount) {
      this.flags |= DRAIN_WANTED;
      return true;
    }
    return false;
  }

  /**
   * Sends a message shared by many peers (server side only): the plain frame is encoded
   * on first use; a compressed one is shared when this peer has no context takeover
   * (RFC 7692 §7.1.1.1), else compressed by this peer's own codec.
   */
  sendShared(message: SharedFrame): SendResult {
    const { codec, sendQueue, pendingClose } = this.negotiated;
    if (this.sendingEnded || pendingClose !== null || this.protocolState.fragmenting) return 'dropped';
    const { data, isBinary } = message;
    if (this.overLimit(data.length)) return 'dropped';
    if (codec !== null && codec.shouldCompress(data.length)) {
      const item = new Outgoing(data, isBinary, ENCODED, null, null);
      // The callback never comes synchronously: the item is queued before it runs.
      item.shared = codec.compressShared(message, (error, frame) => this.sharedReady(item, error, frame));
      if (item.shared === null) this.enqueueCompressed(data, isBinary);
      else (this.negotiated.sendQueue ??= []).push(item);
      return this.sendResult();
    }
    if (message.frame === undefined) {
      message.frame = encodeFrameContiguous(isBinary ? Opcode.BINARY : Opcode.TEXT, data, {
        fin: true,
        rsv1: false,
        mask: null,
      });
    }
    if (sendQueue !== null) {
      // Keep order behind messages still being compressed.
      sendQueue.push(new Outgoing(data, isBinary, ENCODED, message.frame, null));
    } else {
      this.protocolState.sendEncoded(message.frame);
      this.scheduleFlush();
    }
    return this.sendResult();
  }

  /** Streams one fragment of a message (RFC 6455 §5.4); uncompressed. */
  sendFragmentData(data: Buffer, isBinary: boolean, fin: boolean): SendResult {
    if (this.sendingEnded || this.negotiated.sendQueue !== null) return 'dropped';
    // Over the limit, a new message is refused; a message already started is completed
    // (dropping one of its fragments would corrupt it) and the caller is told to wait.
    if (!this.protocolState.fragmenting && this.overLimit(data.length)) return 'dropped';
    const over = this.bufferedAmount + data.length > this.settings.maxBufferedAmount;
    this.protocolState.sendFragment(data, isBinary, fin);
    this.scheduleFlush();
    if (over) {
      this.flags |= DRAIN_WANTED;
      return 'buffered';
    }
    return this.sendResult();
  }

  ping(data?: Buffer): void {
    if (this.sendingEnded) return;
    this.protocolState.sendPing(data);
    this.scheduleFlush();
  }

  pong(data?: Buffer): void {
    if (this.sendingEnded) return;
    this.protocolState.sendPong(data);
    this.scheduleFlush();
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2) and arms the close deadline. Invalid
   * codes or reasons throw `HL_ERR_INVALID_ARGUMENT` before anything is sent.
   */
  close(code: number = CloseCode.NO_STATUS, reason = ''): void {
    const negotiated = this.negotiated;
    if (this.finished || this.protocolState.closeSent !== null || negotiated.pendingClose !== null) return;
    if (negotiated.sendQueue !== null) {
      // Let compressed messages ahead of the close leave first. Bad arguments throw now,
      // not later from a zlib callback where nothing would catch them.
      encodeClosePayload(code, reason);
      negotiated.pendingClose = { code, reason };
      return;
    }
    this.protocolState.sendClose(code, reason);
    this.armCloseDeadline();
    this.afterProtocolStep();
  }

  /** Drops the connection at once (no closing handshake). */
  terminate(): void {
    if (this.finished) return;
    this.socket.destroy();
  }

  // ---- Receiving -------------------------------------------------------------------------

  /** @internal Called for each chunk read from the socket. */
  receive(chunk: Buffer): void {
    this.idleTicks = 0;
    this.flags &= ~PING_SENT;
    if (this.aborted) return;
    const blocked = this.negotiated.blocked;
    if (blocked !== null) {
      // Parsing is paused while a message inflates; the socket is paused too, but a
      // chunk may already be on its way.
      this.protocolState.receiveData(chunk);
      blocked.push(...this.protocolState.eventsReceived());
      return;
    }
    this.protocolState.receiveData(chunk);
    this.writeOut(); // pongs and close echoes first
    this.dispatch(this.protocolState.eventsReceived(), 0);
  }

  private dispatch(events: ProtocolEvent[], from: number): void {
    this.flags |= DISPATCHING;
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
      this.flags &= ~DISPATCHING;
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
        this.armCloseDeadline();
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
    this.flags |= ABORTED;
    const failure = new ProtocolError('HL_ERR_INVALID_STATE', CloseCode.INTERNAL_ERROR, 'internal error');
    (failure as { cause?: unknown }).cause = error;
    if (this.failure === null) this.failure = error instanceof Error ? error : failure;
    this.protocolState.fail(failure);
    this.protocolState.eventsReceived(); // the error event is ours; do not loop back into user code
    this.armCloseDeadline();
  }

  private inflate(data: Buffer, binary: boolean, events: ProtocolEvent[], rest: number): void {
    const negotiated = this.negotiated;
    this.flags &= ~DISPATCHING;
    this.writeOut(); // what user code sent for earlier messages leaves now
    negotiated.blocked = events.slice(rest);
    this.socket.pause();
    negotiated.codec!.decompress(data, (error, result) => {
      if (this.finished) return;
      const queued = negotiated.blocked ?? [];
      negotiated.blocked = null;
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
      this.flags |= DISPATCHING;
      this.safely(deliverMessage, result!, binary);
      this.flags &= ~DISPATCHING;
      this.writeOut();
      this.dispatch(queued, 0);
    });
  }

  private failWith(error: ProtocolError): void {
    this.protocolState.fail(error);
    this.protocolState.eventsReceived();
    this.failure = error;
    this.safely(deliverError, error, false);
    this.armCloseDeadline();
    this.afterProtocolStep();
  }

  // ---- Compression -------------------------------------------------------------------------

  private enqueueCompressed(data: Buffer, binary: boolean): void {
    const negotiated = this.negotiated;
    const item = new Outgoing(data, binary, DEFLATED, null, null);
    (negotiated.sendQueue ??= []).push(item);
    negotiated.codec!.compress(data, (error, compressed) => {
      if (this.finished) return;
      if (error) {
        this.internalError(error);
        this.afterProtocolStep();
        return;
      }
      item.out = compressed!;
      this.releaseReady();
    });
  }

  private sharedReady(item: Outgoing, error: Error | null, frame: Buffer | undefined): void {
    if (this.finished) return;
    if (error) {
      // As for this connection's own compression: zlib failing is an internal error.
      this.internalError(error);
      this.afterProtocolStep();
      return;
    }
    item.out = frame!;
    this.releaseReady();
  }

  /** Sends the messages at the head of the queue that are ready, in order. */
  private releaseReady(): void {
    const negotiated = this.negotiated;
    const queue = negotiated.sendQueue;
    if (queue === null) return;
    let ready = 0;
    while (ready < queue.length) {
      const item = queue[ready]!;
      if (item.kind !== PLAIN && item.out === null) break;
      ready++;
      // After our Close nothing more may be sent (RFC 6455 §5.5.1).
      if (this.protocolState.closeSent !== null) continue;
      if (item.kind === PLAIN) this.protocolState.sendMessage(item.data, item.binary);
      else if (item.kind === DEFLATED) this.protocolState.sendMessage(item.out!, item.binary, true);
      else this.protocolState.sendEncoded(item.out!);
    }
    if (ready === 0) return;
    queue.splice(0, ready);
    if (queue.length === 0) {
      negotiated.sendQueue = null;
      if (negotiated.pendingClose !== null) {
        const { code, reason } = negotiated.pendingClose;
        negotiated.pendingClose = null;
        this.close(code, reason);
        return;
      }
    }
    this.scheduleFlush();
  }

  // ---- Writing ---------------------------------------------------------------------------

  private scheduleFlush(): void {
    if ((this.flags & (DISPATCHING | FLUSH_SCHEDULED)) !== 0) return;
    this.flags |= FLUSH_SCHEDULED;
    process.nextTick(flushConnection, this);
  }

  /** @internal */
  flush(): void {
    this.flags &= ~FLUSH_SCHEDULED;
    this.afterProtocolStep();
    // Compressed sends answer `buffered`. Once the last of them is handed to a socket
    // that is not backed up itself, the socket will emit no 'drain': this is the drain.
    if (this.drainWanted && this.negotiated.sendQueue === null && !this.socket.writableNeedDrain) this.drained();
  }

  /** Writes what is queued, then closes the transport if the protocol expects it. */
  private afterProtocolStep(): void {
    this.writeOut();
    if (this.protocolState.closeExpected && !this.socket.writableEnded) {
      // RFC 6455 §7.1.1: the server closes TCP first; after a failure, either side does.
      this.socket.end();
      if (this.closeDeadline === null) this.armCloseDeadline();
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

  private armCloseDeadline(): void {
    this.closeDeadline = Date.now() + this.settings.closeTimeout;
  }

  /** @internal Called by the shared sweep, once per tick. */
  sweep(now: number): void {
    if (this.closeDeadline !== null) {
      if (now >= this.closeDeadline) {
        if (this.failure === null) this.failure = new HotlineError('HL_ERR_CLOSE_TIMEOUT', 'closing handshake timed out');
        this.socket.destroy();
      }
      return;
    }
    const { idleTimeout, sendPings, sweep } = this.settings;
    if (idleTimeout <= 0) return;
    // Counted in ticks, this may fire up to one tick early, as the timestamp it replaces
    // did; a stalled event loop postpones it by the length of the stall.
    const idle = ++this.idleTicks * sweep.interval;
    if (idle >= idleTimeout) {
      this.failure = new HotlineError('HL_ERR_IDLE_TIMEOUT', `nothing received for ${idleTimeout} ms`);
      this.socket.destroy();
    } else if (sendPings && (this.flags & PING_SENT) === 0 && idle >= idleTimeout / 2) {
      this.flags |= PING_SENT;
      this.ping();
    }
  }

  // ---- Socket events -----------------------------------------------------------------------

  /** @internal */
  handleEnd(): void {
    // §7.1.1 / §7.1.5: the peer closed TCP. Without a Close frame first, this is 1006.
    this.protocolState.receiveEof();
    if (!this.socket.writableEnded) this.socket.end();
    // Our FIN waits behind whatever the peer has not read yet; a peer that never reads
    // again must not keep the socket open (with no idle timeout, nothing else would end it).
    if (this.closeDeadline === null) this.armCloseDeadline();
  }

  /** @internal */
  handleSocketError(error: Error): void {
    if (this.failed !== null) return;
    this.failed = error;
    this.flags |= RAW_SOCKET_ERROR;
  }

  /** @internal */
  handleDrain(): void {
    if (!this.drainWanted || this.finished) return;
    if (this.bufferedAmount > 0) return;
    this.drained();
  }

  private drained(): void {
    if (this.finished) return;
    this.flags &= ~DRAIN_WANTED;
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
    this.flags |= FINISHED;
    this.settings.sweep.delete(this);
    const negotiated = this.negotiated;
    if (negotiated.codec !== null) {
      negotiated.codec.close();
      negotiated.blocked = null;
      const queue = negotiated.sendQueue;
      negotiated.sendQueue = null;
      // Shared compressions nobody else waits for are skipped or stopped.
      if (queue !== null) for (const item of queue) item.shared?.cancel();
    }
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
