import { isUtf8 } from 'node:buffer';
import { CloseCode, ProtocolError } from '../errors.js';
import { isValidCloseCode } from './close-code.js';
import { type FrameLimits, MAX_CONTROL_PAYLOAD } from './limits.js';
import { SMALL, applyMask, unmaskSmallIsAscii } from './mask.js';
import { Opcode, isControl, isKnownOpcode } from './opcode.js';
import { Side } from './side.js';
import { Utf8Validator } from './utf8.js';

/** What the parser reports, in order. Called synchronously from `write`. */
export interface FrameSink {
  /** A whole data message. `compressed`: RSV1 was set on its first frame (RFC 7692 §6). */
  onMessage(data: Buffer, binary: boolean, compressed: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** `code` is 1005 when the Close frame had no payload (RFC 6455 §7.1.5). */
  onClose(code: number, reason: string, payload: Buffer): void;
}

export interface FrameParserOptions extends FrameLimits {
  side: Side;
  /** RFC 7692 §6: RSV1 is meaningful only when permessage-deflate was negotiated. */
  allowRsv1: boolean;
}

/** Parser states, RFC 6455 §5.2 field by field. `STOPPED`: after a Close or an error, input is ignored. */
const State = {
  HEADER: 0,
  LENGTH_16: 1,
  LENGTH_64: 2,
  MASKING_KEY: 3,
  PAYLOAD: 4,
  STOPPED: 5,
} as const;
type State = (typeof State)[keyof typeof State];

const EMPTY = Buffer.alloc(0);
/** "Nothing buffered", shared and frozen: an idle parser holds no array of its own. */
const NO_CHUNKS: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/**
 * The masking key of the frame being unmasked, as bytes. Parsing is synchronous, so one
 * scratch array serves every parser; each keeps its key as a number, which costs an idle
 * connection nothing (a Buffer of its own would cost an ArrayBuffer and its backing store).
 */
const KEY = new Uint8Array(4);

function keyBytes(key: number): Uint8Array {
  KEY[0] = key >>> 24;
  KEY[1] = (key >>> 16) & 0xff;
  KEY[2] = (key >>> 8) & 0xff;
  KEY[3] = key & 0xff;
  return KEY;
}

/**
 * A data frame at least this long that spans several reads is assembled in its own
 * buffer as its bytes arrive: each read is copied, unmasked and checked while it is still
 * in the CPU cache, and the reads are not kept around to be joined in a second pass.
 * Below it, buffering the reads costs less than an early allocation.
 */
const ASSEMBLY_THRESHOLD = 64 * 1024;

function protocolError(code: ConstructorParameters<typeof ProtocolError>[0], message: string): ProtocolError {
  return new ProtocolError(code, CloseCode.PROTOCOL_ERROR, message);
}

/**
 * An incremental RFC 6455 frame parser: feed it chunks of any size (one byte at a time
 * works) and it reports whole messages and control frames to a sink. Frames that arrive
 * in one chunk are handed over as zero-copy slices of that chunk. Violations throw a
 * `ProtocolError` carrying the close code; after that, and after a Close frame, the
 * parser ignores all input (§5.5.1: no data frames after Close).
 */
export class FrameParser {
  private readonly sink: FrameSink;
  private readonly expectMasked: boolean;
  private readonly allowRsv1: boolean;
  private readonly maxPayload: number;
  private readonly maxFragments: number;

  private state: State = State.HEADER;
  private chunks: Buffer[] = NO_CHUNKS;
  /** Read position inside `chunks[0]`. */
  private offset = 0;
  /** Bytes in `chunks` from `offset` on. */
  private buffered = 0;

  // The frame being read.
  private fin = false;
  private rsv1 = false;
  private opcode = 0;
  private masked = false;
  private payloadLength = 0;
  /** §5.3: the 4-byte key, big-endian in one number. */
  private maskingKey = 0;
  /** Payload bytes already unmasked (and validated) in place while the frame was incomplete. */
  private processed = 0;
  /**
   * The payload of a large frame, filled as its bytes arrive (see ASSEMBLY_THRESHOLD).
   * Caveat: it is allocated for the announced length (already checked against
   * `maxPayload`); the pages become resident only as bytes are written into them.
   */
  private assembly: Buffer | null = null;
  private assembled = 0;

  // The message being reassembled (RFC 6455 §5.4).
  private messageOpcode = 0;
  private messageCompressed = false;
  private fragments: Buffer | null = null;
  private messageLength = 0;
  private fragmentCount = 0;
  private utf8: Utf8Validator | null = null;
  /** Whether the current text payload is checked for UTF-8 here (not when compressed). */
  private validating = false;

  constructor(sink: FrameSink, options: FrameParserOptions) {
    this.sink = sink;
    // §5.1: a server MUST close on an unmasked frame; a client on a masked one.
    this.expectMasked = options.side === Side.SERVER;
    this.allowRsv1 = options.allowRsv1;
    this.maxPayload = options.maxPayload;
    this.maxFragments = options.maxFragments;
  }

  /** True after a Close frame or an error: everything else received is discarded. */
  get stopped(): boolean {
    return this.state === State.STOPPED;
  }

  /**
   * Bytes this parser holds for frames and messages not yet whole: reads buffered until a
   * header or payload is complete, the part of a large frame assembled so far, and the
   * fragments of the message being reassembled (§5.4). 0 between messages, which is most
   * of the time: the owner can bound the sum over many parsers at no cost in that case.
   */
  get heldBytes(): number {
    let held = this.buffered;
    if (this.assembly !== null) held += this.assembled;
    if (this.fragments !== null) held += this.messageLength;
    return held;
  }

  /** Stops parsing: further input is ignored. */
  stop(): void {
    this.state = State.STOPPED;
    this.chunks = NO_CHUNKS;
    this.buffered = 0;
    this.offset = 0;
    this.fragments = null;
    this.assembly = null;
  }

  write(chunk: Buffer): void {
    if (this.state === State.STOPPED || chunk.length === 0) return;
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      this.run();
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  private run(): void {
    for (;;) {
      switch (this.state) {
        case State.HEADER:
          if (this.buffered < 2) return;
          this.readHeader();
          break;
        case State.LENGTH_16:
          if (this.buffered < 2) return;
          this.payloadLength = (this.readByte() << 8) | this.readByte();
          this.checkLength();
          break;
        case State.LENGTH_64:
          if (this.buffered < 8) return;
          this.readLength64();
          break;
        case State.MASKING_KEY:
          if (this.buffered < 4) return;
          // Kept as a signed 32-bit integer: a small integer to V8 whatever the key, where
          // an unsigned one above 2^31 would be a heap number, and from then on would give
          // every parser's field a 16-byte box of its own.
          this.maskingKey = (this.readByte() << 24) | (this.readByte() << 16) | (this.readByte() << 8) | this.readByte();
          this.state = State.PAYLOAD;
          break;
        case State.PAYLOAD:
          if (this.assembly !== null) {
            if (!this.assemble()) return;
            const payload = this.assembly;
            this.assembly = null;
            this.state = State.HEADER;
            this.dataFrame(payload);
            break;
          }
          if (this.buffered < this.payloadLength) {
            if (this.payloadLength >= ASSEMBLY_THRESHOLD) {
              this.assembly = Buffer.allocUnsafe(this.payloadLength);
              this.assembled = 0;
              this.assemble();
            } else {
              this.processPartialPayload();
            }
            return;
          }
          this.readPayload();
          break;
        case State.STOPPED:
          return;
      }
    }
  }

  private readByte(): number {
    const chunk = this.chunks[0]!;
    const byte = chunk[this.offset++]!;
    this.buffered--;
    if (this.offset === chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    return byte;
  }

  /** Takes `n` bytes: a slice when they lie in one chunk, a copy otherwise. */
  private consume(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.buffered -= n;
    const first = this.chunks[0]!;
    const available = first.length - this.offset;
    if (available >= n) {
      const slice = first.subarray(this.offset, this.offset + n);
      if (available === n) {
        this.chunks.shift();
        this.offset = 0;
      } else {
        this.offset += n;
      }
      return slice;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let c = 0;
    while (filled < n) {
      const chunk = this.chunks[c]!;
      const take = Math.min(chunk.length - this.offset, n - filled);
      chunk.copy(out, filled, this.offset, this.offset + take);
      filled += take;
      this.offset += take;
      if (this.offset === chunk.length) {
        c++;
        this.offset = 0;
      }
    }
    // One splice, not a shift per chunk: a payload trickled in many small chunks would
    // otherwise cost time quadratic in their number.
    this.chunks.splice(0, c);
    return out;
  }

  /** Moves `n` buffered bytes into `target` at `at` (n <= buffered). */
  private copyInto(target: Buffer, at: number, n: number): void {
    this.buffered -= n;
    let c = 0;
    while (n > 0) {
      const chunk = this.chunks[c]!;
      const take = Math.min(chunk.length - this.offset, n);
      target.set(take === chunk.length ? chunk : chunk.subarray(this.offset, this.offset + take), at);
      at += take;
      n -= take;
      this.offset += take;
      if (this.offset === chunk.length) {
        c++;
        this.offset = 0;
      }
    }
    this.chunks.splice(0, c);
  }

  /**
   * Adds the buffered bytes to the frame being assembled, unmasking and checking them in
   * the destination (§5.3: the mask index is the payload offset). True when it is whole.
   */
  private assemble(): boolean {
    const target = this.assembly!;
    const from = this.assembled;
    const to = Math.min(this.payloadLength, from + this.buffered);
    if (to === from) return false;
    this.copyInto(target, from, to - from);
    if (this.masked) applyMask(target, keyBytes(this.maskingKey), from, to, from);
    if (this.validating && !this.utf8!.write(target, from, to)) throw invalidUtf8();
    this.assembled = to;
    return to === this.payloadLength;
  }

  private readHeader(): void {
    const b0 = this.readByte();
    const b1 = this.readByte();
    this.fin = (b0 & 0x80) !== 0;
    this.rsv1 = (b0 & 0x40) !== 0;
    this.opcode = b0 & 0x0f;
    this.masked = (b1 & 0x80) !== 0;
    this.payloadLength = b1 & 0x7f;
    this.processed = 0;

    // §5.2: RSV2 and RSV3 MUST be 0 unless an extension defines them; none here does.
    if ((b0 & 0x30) !== 0) {
      throw protocolError('HL_ERR_RESERVED_BITS', 'RSV2 and RSV3 must be clear');
    }
    if (!isKnownOpcode(this.opcode)) {
      throw protocolError('HL_ERR_INVALID_OPCODE', `reserved opcode 0x${this.opcode.toString(16)}`);
    }
    if (isControl(this.opcode)) {
      // §5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
      if (!this.fin) throw protocolError('HL_ERR_CONTROL_FRAGMENTED', 'fragmented control frame');
      if (this.payloadLength > MAX_CONTROL_PAYLOAD) {
        throw protocolError('HL_ERR_CONTROL_TOO_LONG', 'control frame payload over 125 bytes');
      }
      // RFC 7692 §6: RSV1 belongs to data messages only.
      if (this.rsv1) throw protocolError('HL_ERR_RESERVED_BITS', 'RSV1 set on a control frame');
    } else if (this.opcode === Opcode.CONTINUATION) {
      // §5.4: a continuation needs a fragmented message to continue.
      if (this.messageOpcode === 0) {
        throw protocolError('HL_ERR_UNEXPECTED_CONTINUATION', 'continuation frame with no message to continue');
      }
      // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
      if (this.rsv1) throw protocolError('HL_ERR_RESERVED_BITS', 'RSV1 set on a continuation frame');
      if (++this.fragmentCount > this.maxFragments) {
        throw new ProtocolError('HL_ERR_TOO_MANY_FRAGMENTS', CloseCode.MESSAGE_TOO_BIG, `message has more than ${this.maxFragments} fragments`);
      }
    } else {
      // §5.4: fragments of one message MUST NOT be interleaved with another message.
      if (this.messageOpcode !== 0) {
        throw protocolError('HL_ERR_EXPECTED_CONTINUATION', 'new data frame inside a fragmented message');
      }
      if (this.rsv1 && !this.allowRsv1) {
        throw protocolError('HL_ERR_RESERVED_BITS', 'RSV1 set but no extension was negotiated');
      }
      this.messageOpcode = this.opcode;
      this.messageCompressed = this.rsv1;
      this.messageLength = 0;
      this.fragmentCount = 1;
      // Text is checked here as it arrives, unless it is compressed (checked after inflation).
      this.validating = this.opcode === Opcode.TEXT && !this.rsv1;
      if (this.validating) {
        if (this.utf8 === null) this.utf8 = new Utf8Validator();
        else this.utf8.reset();
      }
    }
    // §5.1: the server MUST fail on an unmasked client frame, the client on a masked server frame.
    if (this.masked !== this.expectMasked) {
      throw this.masked
        ? protocolError('HL_ERR_MASKED_FRAME', 'a server must not mask its frames')
        : protocolError('HL_ERR_UNMASKED_FRAME', 'a client must mask its frames');
    }

    if (this.payloadLength === 126) {
      this.state = State.LENGTH_16;
    } else if (this.payloadLength === 127) {
      this.state = State.LENGTH_64;
    } else {
      this.checkLength();
    }
  }

  private readLength64(): void {
    const high = (this.readByte() << 24) | (this.readByte() << 16) | (this.readByte() << 8) | this.readByte();
    const low = ((this.readByte() << 24) | (this.readByte() << 16) | (this.readByte() << 8) | this.readByte()) >>> 0;
    // §5.2: "the most significant bit MUST be 0".
    if (high < 0) throw protocolError('HL_ERR_INVALID_LENGTH', '64-bit payload length with the top bit set');
    // Anything past 2^53 is over every possible limit; keep the arithmetic exact below it.
    this.payloadLength = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 0x1_0000_0000 + low;
    this.checkLength();
  }

  /** The length is known: refuse an oversized message now, before buffering any of it. */
  private checkLength(): void {
    if (!isControl(this.opcode) && this.messageLength + this.payloadLength > this.maxPayload) {
      throw new ProtocolError(
        'HL_ERR_MESSAGE_TOO_BIG',
        CloseCode.MESSAGE_TOO_BIG,
        `message exceeds the ${this.maxPayload}-byte limit`,
      );
    }
    this.state = this.masked ? State.MASKING_KEY : State.PAYLOAD;
  }

  /**
   * Part of a payload is here: unmask it in place and check its UTF-8 now, so that a peer
   * trickling invalid text is failed at the first bad byte, not at the end of the frame.
   */
  private processPartialPayload(): void {
    const upto = this.buffered;
    if (upto <= this.processed) return;
    const checkText = this.validating && !isControl(this.opcode);
    if (!this.masked && !checkText) return;
    // The new bytes are the last `upto - processed` buffered: find their first chunk from
    // the end, so a frame trickled in many small chunks costs linear time, not a rescan
    // of every buffered chunk on each arrival.
    let c = this.chunks.length;
    let position = upto; // payload offset of chunk c's first byte
    while (position > this.processed) {
      c--;
      position -= this.chunks[c]!.length - (c === 0 ? this.offset : 0);
    }
    for (; c < this.chunks.length && position < upto; c++) {
      const chunk = this.chunks[c]!;
      const begin = c === 0 ? this.offset : 0;
      const size = chunk.length - begin;
      const from = Math.max(this.processed, position);
      const to = Math.min(upto, position + size);
      if (from < to) {
        const start = begin + (from - position);
        const end = begin + (to - position);
        if (this.masked) applyMask(chunk, keyBytes(this.maskingKey), start, end, from);
        if (checkText && !this.utf8!.write(chunk, start, end)) throw invalidUtf8();
      }
      position += size;
    }
    this.processed = upto;
  }

  private readPayload(): void {
    const length = this.payloadLength;
    const payload = this.consume(length);
    const done = this.processed;
    this.state = State.HEADER;
    // Bytes [done, length) are still masked and unchecked.
    let ascii = false;
    if (this.masked && done < length) {
      const key = keyBytes(this.maskingKey);
      if (length - done < SMALL) ascii = unmaskSmallIsAscii(payload, key, done, length, done);
      else applyMask(payload, key, done, length, done);
    }

    if (isControl(this.opcode)) {
      this.controlFrame(payload);
      return;
    }
    // ASCII after a sequence boundary keeps the validator at a boundary: nothing to check.
    if (this.validating && done < length && !(ascii && this.utf8!.complete)) {
      // A whole message in one frame, nothing of it checked yet: one native call, no
      // streaming state (the validator stays at a boundary, as `endMessage` expects).
      const valid =
        done === 0 && this.fin && this.fragments === null ? isUtf8(payload) : this.utf8!.write(payload, done, length);
      if (!valid) throw invalidUtf8();
    }
    this.dataFrame(payload);
  }

  /** A data frame's payload is whole, unmasked and checked. */
  private dataFrame(payload: Buffer): void {
    const length = payload.length;
    this.messageLength += length;
    if (this.fin && this.fragments === null) {
      // The common case: a whole message in one frame, handed over without a copy.
      this.endMessage(payload);
      return;
    }
    this.appendFragment(payload);
    if (this.fin) {
      const message = this.fragments!.subarray(0, this.messageLength);
      this.fragments = null;
      this.endMessage(message);
    }
  }

  /**
   * Fragments are copied into one buffer that doubles as it fills (capped at the limit),
   * so a flood of tiny fragments costs their bytes, not an object per fragment.
   */
  private appendFragment(payload: Buffer): void {
    const needed = this.messageLength;
    let buffer = this.fragments;
    if (buffer === null || buffer.length < needed) {
      const size = Math.min(this.maxPayload, Math.max(needed, 2 * (buffer?.length ?? 0), 1024));
      const grown = Buffer.allocUnsafe(size);
      if (buffer !== null) buffer.copy(grown, 0, 0, needed - payload.length);
      buffer = grown;
      this.fragments = grown;
    }
    payload.copy(buffer, needed - payload.length);
  }

  private endMessage(data: Buffer): void {
    const binary = this.messageOpcode === Opcode.BINARY;
    const compressed = this.messageCompressed;
    // §8.1: a text message must end on a character boundary.
    if (this.validating && !this.utf8!.complete) throw invalidUtf8();
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messageLength = 0;
    this.fragmentCount = 0;
    this.validating = false;
    this.sink.onMessage(data, binary, compressed);
  }

  private controlFrame(payload: Buffer): void {
    switch (this.opcode) {
      case Opcode.PING:
        this.sink.onPing(payload);
        return;
      case Opcode.PONG:
        this.sink.onPong(payload);
        return;
      default:
        this.closeFrame(payload);
    }
  }

  /** §5.5.1: an optional 2-byte status code followed by a UTF-8 reason. */
  private closeFrame(payload: Buffer): void {
    let code: number = CloseCode.NO_STATUS;
    let reason = '';
    if (payload.length === 1) {
      throw protocolError('HL_ERR_INVALID_CLOSE_PAYLOAD', 'close frame with a 1-byte payload');
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) {
        throw protocolError('HL_ERR_INVALID_CLOSE_CODE', `invalid close code ${code}`);
      }
      const text = payload.subarray(2);
      if (!isCompleteUtf8(text)) throw invalidUtf8('close reason');
      reason = text.toString('utf8');
    }
    // §1.4: after a Close frame, no more data is read.
    this.stop();
    this.sink.onClose(code, reason, payload);
  }
}

function isCompleteUtf8(text: Buffer): boolean {
  const validator = new Utf8Validator();
  return validator.write(text) && validator.complete;
}

function invalidUtf8(what = 'text message'): ProtocolError {
  // §8.1: "the endpoint MUST _Fail the WebSocket Connection_" with 1007 (§7.4.1).
  return new ProtocolError('HL_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, `invalid UTF-8 in ${what}`);
}
