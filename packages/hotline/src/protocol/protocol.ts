import { CloseCode, HotlineError, ProtocolError, invalidState } from '../errors.js';
import { MAX_CLOSE_REASON_BYTES, isValidCloseCode } from './close-code.js';
import { encodeFrame, headerLength, randomMask } from './frame-encoder.js';
import { FrameRun, SLAB_FRAME_LIMIT, encodeIntoSlab } from './frame-slab.js';
import { type FrameSink, FrameParser } from './frame-parser.js';
import { DEFAULT_FRAME_LIMITS, type FrameLimits, MAX_CONTROL_PAYLOAD } from './limits.js';
import { Opcode } from './opcode.js';
import { Side } from './side.js';
import { ReadyState } from './ready-state.js';

/**
 * One WebSocket connection after the opening handshake, without any I/O (RFC 6455 §5-§7).
 *
 *   bytes in  → receiveData(chunk)  → eventsReceived()   messages, pings, pongs, close
 *   API calls → sendMessage/sendPing/sendClose/fail → dataToSend()   bytes to write
 *
 * The automatic answers the RFC requires (a Pong for each Ping, the Close echo) are queued
 * by `receiveData` itself, so a shell that writes `dataToSend()` before it runs user code
 * always sends them first. `closeExpected` tells the shell when to close the transport.
 *
 * A violation stops parsing at once: nothing after it is read. It is reported as an
 * `error` event after the events parsed before it, and the connection is failed (§7.1.7:
 * the Close frame is queued) only when the shell calls `fail(error)` on reaching that
 * event. So the answers to messages that arrived before the violation, in the same read,
 * go out before the Close, as they would have had the violation come a read later.
 */

export type ProtocolEvent =
  | { readonly type: 'message'; readonly data: Buffer; readonly binary: boolean; readonly compressed: boolean }
  | { readonly type: 'ping'; readonly data: Buffer }
  | { readonly type: 'pong'; readonly data: Buffer }
  | { readonly type: 'close'; readonly code: number; readonly reason: string }
  | { readonly type: 'error'; readonly error: ProtocolError };

export interface ProtocolOptions extends Partial<FrameLimits> {
  side: Side;
  /** RFC 7692: permessage-deflate was negotiated, so RSV1 marks compressed messages. */
  allowRsv1?: boolean;
  /** Masking keys for client frames (§5.3); injectable so tests can use fixed ones. */
  maskGenerator?: () => Uint8Array;
}

export type Chunk = Buffer | Uint8Array;

/** The code and reason of a Close frame (§5.5.1). */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * What happens as a connection ends (§7), kept apart: four fields that an open connection
 * would otherwise hold for nothing, where it now holds one null.
 */
interface Ending {
  closeSent: CloseInfo | null;
  closeReceived: CloseInfo | null;
  failure: ProtocolError | null;
  eofReceived: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Shared, frozen stand-ins for "nothing queued": an idle connection (most of them, most
 * of the time) holds no arrays of its own. The first push replaces them.
 */
const NO_EVENTS: ProtocolEvent[] = Object.freeze([]) as unknown as ProtocolEvent[];
const NO_CHUNKS: Chunk[] = Object.freeze([]) as unknown as Chunk[];

export class Protocol implements FrameSink {
  private readonly parser: FrameParser;
  /** Null on the server side, which never masks. */
  private readonly maskGenerator: (() => Uint8Array) | null;

  state: ReadyState = ReadyState.OPEN;
  /** How the connection is ending; null until it starts to (most connections, most of the time). */
  private ending: Ending | null = null;

  private events: ProtocolEvent[] = NO_EVENTS;
  /** Frames queued for the transport; runs of small frames stay in the slab until taken. */
  private outgoing: Array<Chunk | FrameRun> = NO_CHUNKS;
  private outgoingBytes = 0;
  /** Opcode of the fragmented message being sent, 0 when none (§5.4). */
  private sendingOpcode = 0;

  constructor(options: ProtocolOptions) {
    this.parser = new FrameParser(this, {
      side: options.side,
      allowRsv1: options.allowRsv1 ?? false,
      maxPayload: options.maxPayload ?? DEFAULT_FRAME_LIMITS.maxPayload,
      maxFragments: options.maxFragments ?? DEFAULT_FRAME_LIMITS.maxFragments,
    });
    // §5.3: every client frame is masked; server frames never are.
    this.maskGenerator = options.side === Side.CLIENT ? (options.maskGenerator ?? randomMask) : null;
  }

  /** Which end of the connection this is; read from the masking, so it costs no field. */
  get side(): Side {
    return this.maskGenerator === null ? Side.SERVER : Side.CLIENT;
  }

  /** §7.1.3 / §7.1.5: the Close frame we sent, if any. */
  get closeSent(): CloseInfo | null {
    return this.ending === null ? null : this.ending.closeSent;
  }

  /** §7.1.5: the Close frame we received, if any. */
  get closeReceived(): CloseInfo | null {
    return this.ending === null ? null : this.ending.closeReceived;
  }

  /** The error we failed the connection with (§7.1.7), if any. */
  get failure(): ProtocolError | null {
    return this.ending === null ? null : this.ending.failure;
  }

  /** True after the peer's end of the stream (TCP FIN) was seen. */
  get eofReceived(): boolean {
    return this.ending !== null && this.ending.eofReceived;
  }

  /** The record of how the connection ends, made when it starts to. */
  private startEnding(): Ending {
    if (this.ending === null) this.ending = { closeSent: null, closeReceived: null, failure: null, eofReceived: false };
    return this.ending;
  }

  // ---- Input --------------------------------------------------------------------------

  /**
   * Feeds bytes received from the peer. Nothing throws: a violation (or anything else
   * thrown while parsing, which becomes a 1011 with its details withheld) stops parsing
   * and is queued as an `error` event, for the shell to `fail` with once the events
   * before it are handled.
   */
  receiveData(chunk: Buffer): void {
    try {
      this.parser.write(chunk);
    } catch (error) {
      this.queueEvent({ type: 'error', error: error instanceof ProtocolError ? error : internalError(error) });
    }
  }

  /**
   * Bytes held for frames and messages not yet complete (see `FrameParser.heldBytes`):
   * what a server bounds across its connections. 0 once the connection stops reading.
   */
  get partialBytes(): number {
    return this.parser.heldBytes;
  }

  /**
   * Stops parsing now, keeping the events already parsed: the shell hit a limit of its
   * own (a budget) and will `fail` once it has handled them. Nothing more is read.
   */
  stopReceiving(): void {
    this.parser.stop();
  }

  /** The peer closed its side of the stream (§7.1.1 TCP close). */
  receiveEof(): void {
    this.startEnding().eofReceived = true;
    this.parser.stop();
    this.state = ReadyState.CLOSED;
  }

  /** Takes the events parsed since the last call. */
  eventsReceived(): ProtocolEvent[] {
    const events = this.events;
    if (events.length === 0) return events;
    this.events = NO_EVENTS;
    return events;
  }

  /** Takes the bytes queued since the last call, in order. */
  dataToSend(): Chunk[] {
    const out = this.outgoing;
    if (out.length === 0) return NO_CHUNKS;
    this.outgoing = NO_CHUNKS;
    this.outgoingBytes = 0;
    for (let i = 0; i < out.length; i++) {
      const chunk = out[i]!;
      if (chunk instanceof FrameRun) out[i] = chunk.take();
    }
    return out as Chunk[];
  }

  /** Bytes waiting in `dataToSend()`. */
  get pendingBytes(): number {
    return this.outgoingBytes;
  }

  /**
   * The shell should close the transport now. §7.1.1: the server closes the TCP connection
   * first once the closing handshake is complete; the client waits for it (and closes on
   * a timeout of its own). After a failure either side closes at once (§7.1.7).
   */
  get closeExpected(): boolean {
    if (this.failure !== null) return true;
    return this.side === Side.SERVER && this.closeSent !== null && this.closeReceived !== null;
  }

  // ---- FrameSink: called by the parser -------------------------------------------------

  onMessage(data: Buffer, binary: boolean, compressed: boolean): void {
    // §5.5.1: after sending a Close frame, an endpoint may still receive data until the
    // peer's Close arrives; it is delivered, as browsers do.
    this.queueEvent({ type: 'message', data, binary, compressed });
  }

  onPing(data: Buffer): void {
    // §5.5.2: a Pong with the same payload, "as soon as is practical", unless closing.
    if (this.closeSent === null) this.queueFrame(Opcode.PONG, data, true, false);
    this.queueEvent({ type: 'ping', data });
  }

  onPong(data: Buffer): void {
    this.queueEvent({ type: 'pong', data });
  }

  onClose(code: number, reason: string, payload: Buffer): void {
    const ending = this.startEnding();
    ending.closeReceived = { code, reason };
    if (ending.closeSent === null) {
      // §5.5.1: answer with a Close frame, echoing the status code received.
      ending.closeSent = { code, reason: '' };
      this.queueFrame(Opcode.CLOSE, code === CloseCode.NO_STATUS ? EMPTY : payload.subarray(0, 2), true, false);
    }
    this.state = ReadyState.CLOSED;
    this.queueEvent({ type: 'close', code, reason });
  }

  private queueEvent(event: ProtocolEvent): void {
    if (this.events === NO_EVENTS) this.events = [];
    this.events.push(event);
  }

  // ---- Output ---------------------------------------------------------------------------

  /** Sends a whole message in one frame. `compressed`: the payload is already deflated (RSV1). */
  sendMessage(data: Uint8Array, binary: boolean, compressed = false): void {
    this.checkSendable();
    if (this.sendingOpcode !== 0) throw invalidState('a fragmented message is being sent');
    this.queueFrame(binary ? Opcode.BINARY : Opcode.TEXT, data, true, compressed);
  }

  /**
   * Sends one fragment of a message (§5.4): the first carries the opcode (and RSV1 when
   * compressed), the rest are continuations; `fin` ends the message. Control frames may
   * be sent between fragments.
   */
  sendFragment(data: Uint8Array, binary: boolean, fin: boolean, compressed = false): void {
    this.checkSendable();
    let opcode: number;
    let rsv1 = false;
    if (this.sendingOpcode === 0) {
      opcode = binary ? Opcode.BINARY : Opcode.TEXT;
      rsv1 = compressed;
      this.sendingOpcode = opcode;
    } else {
      opcode = Opcode.CONTINUATION;
    }
    if (fin) this.sendingOpcode = 0;
    this.queueFrame(opcode, data, fin, rsv1);
  }

  /** True while a fragmented message is being sent. */
  get fragmenting(): boolean {
    return this.sendingOpcode !== 0;
  }

  sendPing(data: Uint8Array = EMPTY): void {
    this.checkSendable();
    checkControlPayload(data);
    this.queueFrame(Opcode.PING, data, true, false);
  }

  sendPong(data: Uint8Array = EMPTY): void {
    this.checkSendable();
    checkControlPayload(data);
    this.queueFrame(Opcode.PONG, data, true, false);
  }

  /**
   * Starts (or completes) the closing handshake (§7.1.2). `code` 1005 sends a Close frame
   * with no payload. Calling it again, or once the connection is CLOSED (the stream
   * ended), does nothing.
   */
  sendClose(code: number = CloseCode.NO_STATUS, reason = ''): void {
    if (this.closeSent !== null || this.state === ReadyState.CLOSED) return;
    const payload = encodeClosePayload(code, reason);
    const ending = this.startEnding();
    ending.closeSent = { code, reason };
    this.queueFrame(Opcode.CLOSE, payload, true, false);
    this.state = ending.closeReceived !== null ? ReadyState.CLOSED : ReadyState.CLOSING;
  }

  /**
   * §7.1.7 Fail the WebSocket Connection: send a Close frame with the error's code unless
   * one was already sent, then stop reading; the shell closes the transport. Called by the
   * shell with the error of an `error` event, or with a failure of its own (a limit, an
   * inflate error, a fault); it queues no event.
   */
  fail(error: ProtocolError): void {
    if (this.failure !== null) return;
    const ending = this.startEnding();
    ending.failure = error;
    this.parser.stop();
    this.state = ReadyState.CLOSED;
    if (ending.closeSent === null) {
      // 1011 withholds details (§7.4.1 gives no reason to leak internals); others explain.
      const reason = error.closeCode === CloseCode.INTERNAL_ERROR ? '' : truncateReason(error.message);
      ending.closeSent = { code: error.closeCode, reason };
      this.queueFrame(Opcode.CLOSE, encodeClosePayload(error.closeCode, reason), true, false);
    }
  }

  private checkSendable(): void {
    if (this.closeSent !== null || this.state === ReadyState.CLOSED) {
      throw invalidState('the connection is closing or closed');
    }
  }

  private queueFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): void {
    const mask = this.maskGenerator === null ? null : this.maskGenerator();
    if (this.outgoing === NO_CHUNKS) this.outgoing = [];
    const frameLength = headerLength(payload.length, mask !== null) + payload.length;
    if (frameLength <= SLAB_FRAME_LIMIT) {
      const out = this.outgoing;
      const last = out.length > 0 ? out[out.length - 1] : undefined;
      const run = encodeIntoSlab(last instanceof FrameRun ? last : null, opcode, payload, fin, rsv1, mask);
      if (run !== null) out.push(run);
      this.outgoingBytes += frameLength;
      return;
    }
    const frame = encodeFrame(opcode, payload, { fin, rsv1, mask });
    if (Buffer.isBuffer(frame)) {
      this.outgoing.push(frame);
      this.outgoingBytes += frame.length;
    } else {
      this.outgoing.push(frame[0], frame[1]);
      this.outgoingBytes += frame[0].length + frame[1].length;
    }
  }

  /** Queues bytes that were encoded elsewhere (a publish frame built once for many peers). */
  sendEncoded(frame: Chunk): void {
    this.checkSendable();
    if (this.sendingOpcode !== 0) throw invalidState('a fragmented message is being sent');
    if (this.outgoing === NO_CHUNKS) this.outgoing = [];
    this.outgoing.push(frame);
    this.outgoingBytes += frame.length;
  }
}

/** Anything but a `ProtocolError` thrown inside one connection: a fault of ours, 1011. */
export function internalError(cause: unknown): ProtocolError {
  return new ProtocolError('HL_ERR_INTERNAL', CloseCode.INTERNAL_ERROR, 'internal error', { cause });
}

function checkControlPayload(data: Uint8Array): void {
  if (data.length > MAX_CONTROL_PAYLOAD) {
    throw new HotlineError('HL_ERR_INVALID_ARGUMENT', 'control frame payloads are limited to 125 bytes (RFC 6455 §5.5)');
  }
}

/** §5.5.1: a 2-byte code then a UTF-8 reason; no payload at all for 1005. */
export function encodeClosePayload(code: number, reason: string): Buffer {
  if (code === CloseCode.NO_STATUS) {
    if (reason !== '') throw new HotlineError('HL_ERR_INVALID_ARGUMENT', 'a close reason needs a close code');
    return EMPTY;
  }
  if (!isValidCloseCode(code)) {
    throw new HotlineError('HL_ERR_INVALID_ARGUMENT', `${code} is not a valid close code (RFC 6455 §7.4)`);
  }
  const length = Buffer.byteLength(reason);
  if (length > MAX_CLOSE_REASON_BYTES) {
    throw new HotlineError('HL_ERR_INVALID_ARGUMENT', 'close reason longer than 123 bytes');
  }
  const payload = Buffer.allocUnsafe(2 + length);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, 'utf8');
  return payload;
}

/** Cuts a reason to 123 bytes on a character boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = reason.slice(0, MAX_CLOSE_REASON_BYTES);
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  // The cuts are by UTF-16 code unit: never end on half a surrogate pair, which would be
  // encoded as U+FFFD rather than dropped.
  if (/[\ud800-\udbff]$/.test(out)) out = out.slice(0, -1);
  return out;
}
