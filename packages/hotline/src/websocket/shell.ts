import { CloseCode, HotlineError, ProtocolError } from '../errors.js';
import { Protocol, type ProtocolEvent, encodeClosePayload, internalError } from '../protocol/protocol.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import { ReadyState } from '../protocol/ready-state.js';
import type { SendResult } from '../types.js';
import type { Sweep, Sweepable } from '../timers/sweep.js';
import type { BudgetExhausted, BudgetHolder } from '../resources/byte-budget.js';
import type { SharedMessage } from './shared-deflate.js';
import type { ConnectionOwner } from './owner.js';
import type { StreamSocket } from './stream-socket.js';
import { DEFLATED, ENCODED, Outgoing, PLAIN, writeFrames } from './send-queue.js';
import type { InflateTarget } from './inflate-stage.js';
import { type Negotiated, type SharedSettings, type ShellOptions, negotiatedFor, sharedSettings } from './shell-settings.js';

export type { ShellOptions } from './shell-settings.js';

/**
 * The WebSocket shell: binds a sans-I/O `Protocol` to a socket, for an owner. Every read
 * runs in the same order (STYLE.md §2): feed bytes → write what the protocol must answer
 * (pong, close echo) → hand events to the owner, whose sends are queued → write everything
 * in one batch → close the transport if the protocol says so. Deadlines (close, idle,
 * heartbeat) come from a shared `Sweep`, never from a timer per connection.
 *
 * The class is final: the server's peers, the client and the session carrier are not
 * subclasses but owners (`ConnectionOwner`, one object shared by many connections) and
 * facades (the owner's object for one connection, kept in `facade`). They act through the
 * public methods below and never read the shell's state; the shell calls them through the
 * owner's hooks only. No EventEmitter and no closure per connection.
 *
 * Nothing that happens inside one connection reaches Node's event loop as an exception:
 * owner code that throws or rejects, and any fault of the shell, the parser or the codec,
 * fail that connection alone with 1011.
 */

const kShell = Symbol('hotline.shell');
type OwnedSocket = StreamSocket & { [kShell]?: AnyShell };
/** A shell whatever its owner: what the socket's listeners reach. */
type AnyShell = WebSocketShell<any>;

/**
 * A message encoded once for every server-side peer (publish): its plain frame, and the
 * compressions shared by peers without context takeover (`Publication` is the one).
 */
export interface SharedFrame extends SharedMessage {
  /** The whole uncompressed frame (FIN, RSV1 clear, unmasked); the same buffer each read. */
  readonly frame: Buffer;
}

// The boolean state of a connection, as bits of one small integer: a field each would
// cost every connection 8 bytes.
const PING_SENT = 1;
const FLUSH_SCHEDULED = 2;
/** While owner code runs for a read, sends are only queued; the read's end flushes them. */
const DISPATCHING = 4;
const DRAIN_WANTED = 8;
const FINISHED = 16;
/** The connection failed, or owner code threw, or it was terminated: no more events are delivered. */
const ABORTED = 32;
/** `failed` holds a socket error not yet wrapped (see `failure`). */
const RAW_SOCKET_ERROR = 64;
/** Holds a reservation in `partialBudget`. */
const PARTIAL_HELD = 128;
/** Holds a reservation in `outboundBudget`. */
const OUTBOUND_HELD = 256;

/**
 * Final: owners and facades use it, nothing extends it. `F` is the facade's type, `O` the
 * owner's, so that a facade reaches its owner's own fields through `owner` without a cast.
 */
export class WebSocketShell<F, O extends ConnectionOwner<F> = ConnectionOwner<F>> implements Sweepable, BudgetHolder, InflateTarget {
  /** The owner's object for this connection, passed to every hook. */
  readonly facade: F;
  private readonly socket: StreamSocket;
  private readonly protocolState: Protocol;
  /** The owner and the settings it gives all its connections. */
  private readonly settings: SharedSettings<O>;
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

  /**
   * Takes over `socket` (its events are the shell's from now on) once the opening
   * handshake has succeeded. Nothing is read before `start`.
   */
  constructor(socket: StreamSocket, owner: O, facade: F, sweep: Sweep, options: ShellOptions) {
    this.facade = facade;
    this.socket = socket;
    this.settings = sharedSettings(owner, sweep, options);
    this.negotiated = negotiatedFor(options);
    this.protocolState = new Protocol({
      side: options.side,
      allowRsv1: options.codec !== null,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
    });

    (socket as OwnedSocket)[kShell] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    sweep.add(this);
  }

  /**
   * Starts reading: resumes the socket (a client keeps it paused until its `open` event
   * has been dispatched) and feeds the bytes that arrived with the handshake. A fault
   * fails this connection alone.
   */
  start(head: Buffer): void {
    try {
      this.socket.resume();
      if (head.length > 0) this.receive(head);
    } catch (error) {
      this.fault(error);
    }
  }

  // ---- State -----------------------------------------------------------------------------

  /** Who is told what happens: one object for many connections. */
  get owner(): O {
    return this.settings.owner;
  }

  /** Negotiated subprotocol ('' when none). */
  get protocol(): string {
    return this.negotiated.protocol;
  }

  /** Negotiated extensions, as the response header's value ('' when none). */
  get extensions(): string {
    return this.negotiated.extensions;
  }

  get readyState(): ReadyState {
    if (this.finished) return ReadyState.CLOSED;
    // close() waiting for compressed messages to leave has started closing all the same.
    return this.protocolState.state === ReadyState.OPEN && !this.closeWaiting ? ReadyState.OPEN : ReadyState.CLOSING;
  }

  /** Bytes accepted by `send` and not yet handed to the kernel. */
  get bufferedAmount(): number {
    const queue = this.negotiated.sendQueue;
    return this.protocolState.pendingBytes + this.socket.writableLength + (queue === null ? 0 : queue.bytes);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /** The peer's Close frame has arrived (RFC 6455 §7.1.3). */
  get closeReceived(): boolean {
    return this.protocolState.closeReceived !== null;
  }

  /** Why the connection failed (a protocol error, a limit, a timeout, a socket error, a hook that threw); null if it did not. */
  get failure(): Error | null {
    if ((this.flags & RAW_SOCKET_ERROR) !== 0) {
      this.flags &= ~RAW_SOCKET_ERROR;
      const cause = this.failed!;
      this.failed = new HotlineError('HL_ERR_SOCKET', cause.message, { cause });
    }
    return this.failed;
  }

  private setFailure(error: Error | null): void {
    this.flags &= ~RAW_SOCKET_ERROR;
    this.failed = error;
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

  /** Messages wait in the send queue for a compression ahead of them. */
  private get compressing(): boolean {
    const queue = this.negotiated.sendQueue;
    return queue !== null && queue.waiting;
  }

  /** A close (ours or a failure's) waits behind the send queue. */
  private get closeWaiting(): boolean {
    const queue = this.negotiated.sendQueue;
    return queue !== null && queue.pendingClose !== null;
  }

  /**
   * No frame may be sent any more: ours was the Close (§5.5.1), or the peer's stream ended
   * (§7.1.1; until the socket closes, a send must be dropped, not thrown from the protocol
   * core into a timer), or the connection is gone.
   */
  private get sendingEnded(): boolean {
    const protocol = this.protocolState;
    return protocol.closeSent !== null || protocol.state === ReadyState.CLOSED || this.finished;
  }

  // ---- Sending ---------------------------------------------------------------------------

  /**
   * Queues a whole message. Returns `sent` when nothing was waiting ahead of it,
   * `buffered` when the socket is backed up (`drain` follows), `dropped` when the
   * connection is closing or over `maxBufferedAmount`. `compress` overrides the codec's
   * size threshold when permessage-deflate was negotiated.
   */
  send(data: Buffer, isBinary: boolean, compress?: boolean): SendResult {
    const { codec, sendQueue } = this.negotiated;
    if (this.sendingEnded || this.closeWaiting) return 'dropped';
    if (this.protocolState.fragmenting) return 'dropped';
    if (this.overLimit(data.length)) return 'dropped';
    if ((this.flags & OUTBOUND_HELD) !== 0 && !this.reserveOutbound(data.length)) return 'dropped';
    if (codec !== null && (compress ?? codec.shouldCompress(data.length))) {
      this.enqueueCompressed(data, isBinary);
    } else if (sendQueue !== null && sendQueue.waiting) {
      // Keep order behind messages still being compressed.
      sendQueue.push(new Outgoing(data, isBinary, PLAIN, null, null));
    } else {
      this.protocolState.sendMessage(data, isBinary);
      this.scheduleFlush();
    }
    return this.sendResult();
  }

  /**
   * Sends a message shared by many peers (server side, `publish`): the plain frame is
   * the message's own, built once whatever the number of peers; a compressed one
   * is shared when this peer has no context takeover (RFC 7692 §7.1.1.1), else compressed
   * by this peer's own codec. Same answers as `send`.
   */
  sendShared(message: SharedFrame): SendResult {
    const { codec, sendQueue } = this.negotiated;
    if (this.sendingEnded || this.closeWaiting || this.protocolState.fragmenting) return 'dropped';
    const { data, isBinary } = message;
    if (this.overLimit(data.length)) return 'dropped';
    // Counted in full for each subscriber, though the frame is shared: an overcount.
    if ((this.flags & OUTBOUND_HELD) !== 0 && !this.reserveOutbound(data.length)) return 'dropped';
    if (codec !== null && codec.shouldCompress(data.length)) {
      const item = new Outgoing(data, isBinary, ENCODED, null, null);
      // The callback never comes synchronously: the item is queued before it runs.
      item.shared = codec.compressShared(message, (error, frame) => this.sharedReady(item, error, frame));
      if (item.shared === null) this.enqueueCompressed(data, isBinary);
      else sendQueue!.push(item);
      return this.sendResult();
    }
    // Built by the message on first read, then the same buffer for every subscriber.
    const frame = message.frame;
    if (sendQueue !== null && sendQueue.waiting) {
      // Keep order behind messages still being compressed.
      sendQueue.push(new Outgoing(data, isBinary, ENCODED, frame, null));
    } else {
      this.protocolState.sendEncoded(frame);
      this.scheduleFlush();
    }
    return this.sendResult();
  }

  /** Streams one fragment of a message (RFC 6455 §5.4); uncompressed. */
  sendFragment(data: Buffer, isBinary: boolean, fin: boolean): SendResult {
    if (this.sendingEnded || this.compressing) return 'dropped';
    // Over the limit, a new message is refused; a message already started is completed
    // (dropping one of its fragments would corrupt it) and the caller is told to wait.
    if (!this.protocolState.fragmenting && this.overLimit(data.length)) return 'dropped';
    if (!this.protocolState.fragmenting && (this.flags & OUTBOUND_HELD) !== 0 && !this.reserveOutbound(data.length)) return 'dropped';
    const over = this.settings.dropsOverLimit && this.bufferedAmount + data.length > this.settings.maxBufferedAmount;
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
    const queue = this.negotiated.sendQueue;
    if (this.finished || this.protocolState.closeSent !== null || this.closeWaiting) return;
    if (queue !== null && queue.waiting) {
      // Let compressed messages ahead of the close leave first. Bad arguments throw now,
      // not later from a zlib callback where nothing would catch them.
      encodeClosePayload(code, reason);
      queue.pendingClose = { code, reason, failure: null };
      return;
    }
    this.protocolState.sendClose(code, reason);
    this.armCloseDeadline();
    this.afterProtocolStep();
  }

  /** Drops the connection at once (no closing handshake); nothing more reaches the owner. */
  terminate(): void {
    if (this.finished) return;
    this.flags |= ABORTED;
    this.socket.destroy();
  }

  /**
   * Backpressure is the kernel refusing bytes (the socket asked for a drain), not our own
   * batching: frames queued in this tick and flushed at its end are "sent".
   */
  private sendResult(): SendResult {
    if (this.socket.writableNeedDrain || this.compressing) {
      this.flags |= DRAIN_WANTED;
      return 'buffered';
    }
    return 'sent';
  }

  private overLimit(length: number): boolean {
    if (!this.settings.dropsOverLimit) return false;
    const buffered = this.bufferedAmount;
    if (buffered > 0 && buffered + length > this.settings.maxBufferedAmount) {
      this.flags |= DRAIN_WANTED;
      return true;
    }
    return false;
  }

  // ---- Budgets -----------------------------------------------------------------------------

  /**
   * A peer backed up beyond the kernel holds what it buffers in the server's outbound
   * budget; a send grows the reservation first. Refused (this peer holds the most), the
   * send is dropped and `drain` follows once the peer catches up.
   */
  private reserveOutbound(length: number): boolean {
    if (this.settings.outboundBudget!.set(this, this.bufferedAmount + length)) return true;
    this.flags |= DRAIN_WANTED;
    return false;
  }

  /**
   * After a write: a peer that keeps up (the kernel took everything) costs the budget
   * nothing, not even a lookup; one the socket buffers for holds `bufferedAmount`.
   */
  private reconcileOutbound(): void {
    const budget = this.settings.outboundBudget;
    if (budget === null) return;
    if (this.socket.writableNeedDrain) {
      // Refused, the bytes are queued all the same (they were accepted earlier): the next
      // send asks again and is dropped.
      budget.set(this, this.bufferedAmount);
      this.flags |= OUTBOUND_HELD;
    } else if ((this.flags & OUTBOUND_HELD) !== 0) {
      this.releaseOutbound();
    }
  }

  private releaseOutbound(): void {
    this.flags &= ~OUTBOUND_HELD;
    this.settings.outboundBudget?.release(this);
  }

  /**
   * Reconciles what the parser holds for incomplete frames with the server's budget:
   * nothing to do in the common case (nothing held, nothing reserved). Refused (this
   * connection holds the most), parsing stops at once and the connection is to fail
   * with 1013: the error is returned.
   */
  private reconcilePartial(): ProtocolError | null {
    const budget = this.settings.partialBudget;
    if (budget === null) return null;
    const held = this.protocolState.partialBytes;
    if (held === 0) {
      if ((this.flags & PARTIAL_HELD) !== 0) this.releasePartial();
      return null;
    }
    if (budget.set(this, held)) {
      this.flags |= PARTIAL_HELD;
      return null;
    }
    this.protocolState.stopReceiving();
    if ((this.flags & PARTIAL_HELD) !== 0) this.releasePartial();
    return partialBytesExhausted(budget);
  }

  private releasePartial(): void {
    this.flags &= ~PARTIAL_HELD;
    this.settings.partialBudget?.release(this);
  }

  /**
   * BudgetHolder: a server-wide budget needs the room this connection holds.
   * RFC 6455 §7.4.1 1013 (Try Again Later): the server is under pressure, the peer is not
   * at fault. A peer evicted for what it has not read will not read a Close either: its
   * socket is destroyed.
   */
  evict(reason: BudgetExhausted): void {
    if (this.finished) return;
    const outbound = this.settings.outboundBudget;
    if (outbound !== null && reason.budget === outbound.name) {
      this.failConnection(
        new ProtocolError(
          'HL_ERR_BUFFER_FULL',
          CloseCode.TRY_AGAIN_LATER,
          `the server's ${reason.budget} (${reason.limit} bytes) is exhausted and this peer buffers the most`,
        ),
      );
      this.releaseOutbound();
      this.socket.destroy();
      return;
    }
    this.failConnection(partialBytesExhausted(this.settings.partialBudget ?? reason));
    if ((this.flags & DISPATCHING) === 0) this.afterProtocolStep();
  }

  // ---- Receiving -------------------------------------------------------------------------

  /** Called for each chunk read from the socket. */
  receive(chunk: Buffer): void {
    this.idleTicks = 0;
    this.flags &= ~PING_SENT;
    if (this.aborted) return;
    const protocol = this.protocolState;
    const queued = protocol.pendingBytes;
    protocol.receiveData(chunk);
    // A limit passed in this read fails the connection like a violation at its end: the
    // events parsed before it are handled first.
    let limit: ProtocolError | null = null;
    if ((this.flags & PARTIAL_HELD) !== 0 || protocol.partialBytes !== 0) limit = this.reconcilePartial();
    if (limit === null && protocol.pendingBytes > queued && protocol.closeReceived === null) limit = this.checkAnswers();
    let events = protocol.eventsReceived();
    if (limit !== null) events = [...events, { type: 'error', error: limit }];
    const stage = this.negotiated.inflateStage;
    if (stage !== null && stage.active) {
      // Parsing is paused while a message inflates; the socket is paused too, but a
      // chunk may already be on its way.
      stage.hold(events);
      return;
    }
    this.writeOut(); // pongs and close echoes first
    this.dispatch(events, 0);
  }

  /**
   * The automatic answers of a read (RFC 6455 §5.5.2 pongs) count against
   * `maxBufferedAmount` like any other output: a peer that keeps asking for answers it
   * does not read would otherwise grow our memory without bound. Past the limit it is
   * failed with 1008 (§7.4.1: it violates our policy). The close echo is counted too,
   * but fails nothing: it is the last frame, and TCP closes after it.
   */
  private checkAnswers(): ProtocolError | null {
    if (this.bufferedAmount <= this.settings.maxBufferedAmount) return null;
    this.protocolState.stopReceiving();
    // Nothing it sends is read any more: let TCP push back on it, rather than reading and
    // discarding its flood until the close deadline drops it. Once it has read everything
    // up to our Close, its end of the closing is read again.
    this.socket.pause();
    this.socket.once('finish', resumeReading);
    return new ProtocolError(
      'HL_ERR_UNREAD_ANSWERS',
      CloseCode.POLICY_VIOLATION,
      `pongs not read: over ${this.settings.maxBufferedAmount} bytes buffered`,
    );
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
        if (this.owner.ping !== undefined) this.safely(deliverPing, event.data, false);
        break;
      case 'pong':
        if (this.owner.pong !== undefined) this.safely(deliverPong, event.data, false);
        break;
      case 'close':
        this.armCloseDeadline();
        if (this.owner.closing !== undefined) this.safely(deliverClosing, undefined, false);
        break;
      case 'error':
        this.failAfterAnswers(event.error);
        break;
    }
  }

  /**
   * The violation is reached, after the events before it: the connection fails now, or,
   * while answers to those events are still being compressed, once they have left.
   */
  private failAfterAnswers(error: ProtocolError): void {
    const queue = this.negotiated.sendQueue;
    if (queue === null || !queue.waiting) {
      this.failConnection(error);
      return;
    }
    this.flags |= ABORTED;
    this.setFailure(error);
    queue.pendingClose = { code: error.closeCode, reason: '', failure: error };
    this.armCloseDeadline();
    this.safely(deliverError, error, false);
  }

  /**
   * §7.1.7: fails the connection with `error` (its close code goes in the Close frame)
   * and reports it once through the owner's `error`. No event reaches the owner after it.
   */
  private failConnection(error: ProtocolError): void {
    if (this.finished || this.protocolState.failure !== null) return;
    this.flags |= ABORTED;
    this.setFailure(error);
    this.dropPendingClose();
    this.protocolState.fail(error);
    if ((this.flags & PARTIAL_HELD) !== 0) this.releasePartial();
    this.armCloseDeadline();
    this.safely(deliverError, error, false);
  }

  private dropPendingClose(): void {
    const queue = this.negotiated.sendQueue;
    if (queue !== null) queue.pendingClose = null;
  }

  /** Owner code never throws into the socket's event handler: a throw fails this connection with 1011. */
  private safely(fn: (shell: WebSocketShell<F, O>, value: any, flag: boolean) => unknown, value: unknown, flag: boolean): void {
    try {
      const result = fn(this, value, flag);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        this.watchHook(result as PromiseLike<unknown>, fn === deliverError);
      }
    } catch (error) {
      this.internalError(error);
    }
  }

  /**
   * What an owner's hook returned that is a thenable (its own `open` or `close` hooks
   * too): a rejection is handled as a throw would have been, when it comes (a closure per
   * async call; a sync hook costs a `typeof` only). After the connection has closed, the
   * rejection is reported through `error` and changes nothing else. `isErrorHook`: the
   * rejection came from the error hook itself, which is not called again for it.
   */
  watchHook(result: PromiseLike<unknown>, isErrorHook = false): void {
    try {
      result.then(undefined, (error: unknown) => this.hookRejected(error, isErrorHook));
    } catch (error) {
      this.hookRejected(error, isErrorHook);
    }
  }

  private hookRejected(error: unknown, isErrorHook: boolean): void {
    try {
      if (!this.finished) {
        this.failInternally(error);
      } else if (!isErrorHook) {
        this.reportLate(asError(error));
      }
    } catch {
      // Reporting failed too: there is nobody left to tell.
    }
  }

  /** Reports an error after the connection has closed (an async hook rejected late). */
  private reportLate(error: Error): void {
    const result = this.owner.error?.(this.facade, error);
    // A rejection of the error hook itself is not reported again.
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') (result as PromiseLike<unknown>).then(undefined, ignore);
  }

  /** Fails the connection with 1011 because owner code threw (details withheld). */
  failInternally(error: unknown): void {
    this.internalError(error);
    this.afterProtocolStep();
  }

  /** Owner code threw: 1011 with the details withheld; the error itself is reported at close. */
  private internalError(error: unknown): void {
    this.flags |= ABORTED;
    if (this.failure === null) this.setFailure(asError(error));
    this.dropPendingClose();
    this.protocolState.fail(internalError(error));
    if ((this.flags & PARTIAL_HELD) !== 0) this.releasePartial();
    this.armCloseDeadline();
  }

  /**
   * Something threw inside this connection's own machinery (the shell, the
   * parser, a codec callback): a fault of ours, not the peer's. It fails this connection
   * alone with 1011, details withheld from the peer, reported once through `error`.
   */
  fault(error: unknown): void {
    if (this.finished) return;
    try {
      this.failConnection(internalError(error));
      this.afterProtocolStep();
    } catch {
      // Failing cleanly failed too: drop the connection.
      this.socket.destroy();
    }
  }

  // ---- Inflating ---------------------------------------------------------------------------

  private inflate(data: Buffer, binary: boolean, events: ProtocolEvent[], rest: number): void {
    this.flags &= ~DISPATCHING;
    this.writeOut(); // what the owner sent for earlier messages leaves now
    const { codec, inflateStage } = this.negotiated;
    inflateStage!.start(codec!, this.socket, data, binary, events, rest, this);
  }

  /** InflateTarget: the message is inflated, or could not be. */
  inflated(error: HotlineError | null, result: Buffer | undefined, binary: boolean): void {
    if (this.finished) return;
    const queued = this.negotiated.inflateStage!.resume(this.socket);
    if (this.aborted) {
      this.afterProtocolStep();
      return;
    }
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
    if (this.finished || this.aborted) {
      this.afterProtocolStep();
      return;
    }
    this.dispatch(queued, 0);
  }

  private failWith(error: ProtocolError): void {
    this.failConnection(error);
    this.afterProtocolStep();
  }

  // ---- Compressing -------------------------------------------------------------------------

  private enqueueCompressed(data: Buffer, binary: boolean): void {
    const { codec, sendQueue } = this.negotiated;
    const item = new Outgoing(data, binary, DEFLATED, null, null);
    sendQueue!.push(item);
    codec!.compress(data, (error, compressed) => {
      // A zlib callback: nothing may throw from here into Node's event loop.
      try {
        this.compressed(item, error, compressed);
      } catch (failure) {
        this.fault(failure);
      }
    });
  }

  private compressed(item: Outgoing, error: Error | null, out: Buffer | undefined): void {
    if (this.finished) return;
    if (error) {
      // zlib failing to compress our own data is a fault of ours.
      this.fault(error);
      return;
    }
    item.out = out!;
    this.releaseReady();
  }

  private sharedReady(item: Outgoing, error: Error | null, frame: Buffer | undefined): void {
    try {
      this.compressed(item, error, frame);
    } catch (failure) {
      this.fault(failure);
    }
  }

  /** Sends the messages at the head of the queue that are ready, in order. */
  private releaseReady(): void {
    const queue = this.negotiated.sendQueue!;
    if (queue.release(this.protocolState) === 0) return;
    const pending = queue.pendingClose;
    if (!queue.waiting && pending !== null) {
      queue.pendingClose = null;
      if (pending.failure !== null) {
        // The answers before the violation have left: now the Close (§7.1.7).
        this.protocolState.fail(pending.failure);
        this.afterProtocolStep();
      } else {
        this.close(pending.code, pending.reason);
      }
      return;
    }
    this.scheduleFlush();
  }

  // ---- Writing ---------------------------------------------------------------------------

  private scheduleFlush(): void {
    if ((this.flags & (DISPATCHING | FLUSH_SCHEDULED)) !== 0) return;
    this.flags |= FLUSH_SCHEDULED;
    process.nextTick(flushShell, this);
  }

  flush(): void {
    this.flags &= ~FLUSH_SCHEDULED;
    this.afterProtocolStep();
    // Compressed sends answer `buffered`. Once the last of them is handed to a socket
    // that is not backed up itself, the socket will emit no 'drain': this is the drain.
    if (this.drainWanted && !this.compressing && !this.socket.writableNeedDrain) this.drained();
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
    writeFrames(this.socket, chunks, count);
    if (this.socket.writableNeedDrain || (this.flags & OUTBOUND_HELD) !== 0) this.reconcileOutbound();
  }

  // ---- Deadlines -------------------------------------------------------------------------

  private armCloseDeadline(): void {
    this.closeDeadline = Date.now() + this.settings.closeTimeout;
  }

  /** Called by the shared sweep, once per tick. */
  sweep(now: number): void {
    try {
      this.checkDeadlines(now);
    } catch (error) {
      this.fault(error);
    }
  }

  private checkDeadlines(now: number): void {
    if (this.closeDeadline !== null) {
      if (now >= this.closeDeadline) {
        if (this.failure === null) this.setFailure(new HotlineError('HL_ERR_CLOSE_TIMEOUT', 'closing handshake timed out'));
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
      this.setFailure(new HotlineError('HL_ERR_IDLE_TIMEOUT', `nothing received for ${idleTimeout} ms`));
      this.socket.destroy();
    } else if (sendPings && (this.flags & PING_SENT) === 0 && idle >= idleTimeout / 2) {
      this.flags |= PING_SENT;
      // A peer that has not read what it was sent would not read a heartbeat either, and
      // it would only add to the backlog; the idle timeout ends it all the same.
      if (this.bufferedAmount <= this.settings.maxBufferedAmount) this.ping();
    }
  }

  // ---- Socket events -----------------------------------------------------------------------

  handleEnd(): void {
    // §7.1.1 / §7.1.5: the peer closed TCP. Without a Close frame first, this is 1006.
    this.protocolState.receiveEof();
    if (!this.socket.writableEnded) this.socket.end();
    // Our FIN waits behind whatever the peer has not read yet; a peer that never reads
    // again must not keep the socket open (with no idle timeout, nothing else would end it).
    if (this.closeDeadline === null) this.armCloseDeadline();
  }

  handleSocketError(error: Error): void {
    if (this.failed !== null) return;
    this.failed = error;
    this.flags |= RAW_SOCKET_ERROR;
  }

  handleDrain(): void {
    if ((this.flags & OUTBOUND_HELD) !== 0) this.releaseOutbound();
    if (!this.drainWanted || this.finished) return;
    if (this.bufferedAmount > 0) return;
    this.drained();
  }

  private drained(): void {
    if (this.finished || this.aborted) return;
    this.flags &= ~DRAIN_WANTED;
    if (this.owner.drain === undefined) return;
    this.safely(deliverDrain, undefined, false);
    // The hook threw: its Close goes out now. Its sends, if not, at the end of the tick.
    if (this.aborted) this.afterProtocolStep();
  }

  /** The TCP connection is gone: report the close exactly once. */
  finish(): void {
    if (this.finished) return;
    this.flags |= FINISHED;
    this.settings.sweep.delete(this);
    if ((this.flags & PARTIAL_HELD) !== 0) this.releasePartial();
    if ((this.flags & OUTBOUND_HELD) !== 0) this.releaseOutbound();
    const { codec, sendQueue, inflateStage } = this.negotiated;
    if (codec !== null) {
      inflateStage!.clear();
      try {
        codec.close();
        sendQueue!.clear();
      } catch {
        // The codec's callbacks see a finished connection and do nothing; a fault here
        // must not keep the close from being reported.
      }
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
      this.owner.close(this.facade, code, reason, wasClean);
    } catch {
      // The connection is already gone; nothing left to fail.
    }
  }
}

// Module-level listeners: `this` is the socket; no closure per connection. Each one is
// where Node's event loop calls into a connection, so each one keeps a fault inside it.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  const shell = this[kShell]!;
  try {
    shell.receive(chunk);
  } catch (error) {
    shell.fault(error);
  }
}
function onSocketEnd(this: OwnedSocket): void {
  const shell = this[kShell]!;
  try {
    shell.handleEnd();
  } catch (error) {
    shell.fault(error);
  }
}
function onSocketClose(this: OwnedSocket): void {
  try {
    this[kShell]!.finish();
  } catch {
    // finish() reports the close; a fault after that has nothing left to fail.
  }
}
function onSocketError(this: OwnedSocket, error: Error): void {
  this[kShell]!.handleSocketError(error);
}
function onSocketDrain(this: OwnedSocket): void {
  const shell = this[kShell]!;
  try {
    shell.handleDrain();
  } catch (error) {
    shell.fault(error);
  }
}
function flushShell(shell: AnyShell): void {
  try {
    shell.flush();
  } catch (error) {
    shell.fault(error);
  }
}

function resumeReading(this: StreamSocket): void {
  this.resume();
}

function partialBytesExhausted(budget: { readonly budget?: string; readonly name?: string; readonly limit: number }): ProtocolError {
  return new ProtocolError(
    'HL_ERR_PARTIAL_BYTES',
    CloseCode.TRY_AGAIN_LATER,
    `the server's maxPartialBytes (${budget.limit} bytes) is exhausted and this connection holds the most`,
  );
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new HotlineError('HL_ERR_INTERNAL', `a hook failed with ${String(value)}`, { cause: value });
}

function ignore(): void {}

// The owner's hooks as reached through `safely`, which watches what each returns when it
// is a thenable. Module-level: no closure per call.
function deliverMessage<F>(shell: WebSocketShell<F>, data: Buffer, binary: boolean): unknown {
  return shell.owner.message(shell.facade, data, binary);
}
function deliverPing<F>(shell: WebSocketShell<F>, data: Buffer): unknown {
  return shell.owner.ping!(shell.facade, data);
}
function deliverPong<F>(shell: WebSocketShell<F>, data: Buffer): unknown {
  return shell.owner.pong!(shell.facade, data);
}
function deliverClosing<F>(shell: WebSocketShell<F>): unknown {
  return shell.owner.closing!(shell.facade);
}
function deliverError<F>(shell: WebSocketShell<F>, error: Error): unknown {
  return shell.owner.error?.(shell.facade, error);
}
function deliverDrain<F>(shell: WebSocketShell<F>): unknown {
  return shell.owner.drain!(shell.facade);
}
