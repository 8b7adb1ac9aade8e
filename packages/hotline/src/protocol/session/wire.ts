/**
 * The wire formats of the HTTP transports, shared by the server (`transports/`) and the
 * client (`browser/`). Pure functions over `Uint8Array` and strings: no Node built-ins,
 * so that the browser bundle can carry them.
 *
 * Polling bodies (both directions, `application/octet-stream`):
 *
 *     batch  := firstSeq ';' packet*
 *     packet := kind length ':' payload        length: decimal byte count of payload
 *     kind   := 't' text (UTF-8) | 'b' binary | 'c' close ("code reason") | 'o' open (JSON)
 *
 * Sequenced packets (t, b, c) carry the numbers firstSeq, firstSeq + 1, ... in order;
 * an `o` packet takes none. Lengths make the format binary-safe without base64, and the
 * decimal text keeps a body readable with curl.
 *
 * Server-Sent Events (`text/event-stream`, https://html.spec.whatwg.org/#server-sent-events):
 * each message is an event whose `id` is its sequence number (so a native EventSource's
 * `Last-Event-ID` names the last one received) and whose data starts with a kind:
 * `t` text (split over `data:` lines at LF), `j` text as a JSON string (when it holds a CR,
 * which SSE cannot carry raw), `b` binary in base64, `c` close ("code reason"; `C` when
 * the reason needs JSON). The session handshake is
 * a `session` event carrying JSON (not `open`, which EventSource fires on its own); a
 * heartbeat is a comment line.
 */

export const PacketKind = {
  TEXT: 't',
  BINARY: 'b',
  CLOSE: 'c',
  OPEN: 'o',
} as const;
export type PacketKind = (typeof PacketKind)[keyof typeof PacketKind];

export interface MessagePacket {
  readonly kind: 't' | 'b';
  readonly data: Uint8Array;
}
export interface ClosePacket {
  readonly kind: 'c';
  readonly code: number;
  readonly reason: string;
}
export interface OpenPacket {
  readonly kind: 'o';
  readonly handshake: Handshake;
}
export type Packet = MessagePacket | ClosePacket | OpenPacket;

/** What a new session tells its client (the `o` packet / the SSE `session` event). */
export interface Handshake {
  /** Session id: 144 random bits, base64url. */
  sid: string;
  transport: string;
  /** ms the server holds a long-poll before answering empty. */
  hold: number;
  /** ms between polls the server expects (polling and interval-polling). */
  interval: number;
  /** ms between SSE heartbeats: a silent stream for twice this long is dead. */
  heartbeat: number;
  /** ms without a request after which the server forgets the session. */
  sessionTimeout: number;
  /** Largest upstream body accepted (bytes). */
  maxBody: number;
  /** SSE: ms the client may wait before acknowledging what it received. */
  ackDelay: number;
  /** Most packets in one upstream body (the client splits larger batches). */
  maxPackets: number;
}

/** What a client assumes when a server's handshake does not say `maxPackets`. */
export const DEFAULT_MAX_PACKETS = 10_000;

/** Thrown by every decoder on bad input; the server answers 400 HL_ERR_MALFORMED_BODY. */
export class WireError extends Error {
  override get name(): string {
    return 'WireError';
  }
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const SEMICOLON = 0x3b;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;
/** Decimal fields longer than this cannot be a safe integer (2^53 has 16 digits). */
const MAX_DIGITS = 16;

/** Bytes of a close packet payload: "code reason". */
export function closePayload(code: number, reason: string): Uint8Array {
  return encoder.encode(`${code} ${reason}`);
}

function header(kind: string, length: number): Uint8Array {
  return encoder.encode(`${kind}${length}:`);
}

/**
 * Encodes a batch. `parts` receives the pieces in order (headers and payloads, no copy of
 * payloads) so that a server can `writev` them; `encodeBatch` joins them.
 */
export function batchParts(firstSeq: number, packets: readonly Packet[]): Uint8Array[] {
  const parts: Uint8Array[] = [encoder.encode(`${firstSeq};`)];
  for (const packet of packets) {
    let payload: Uint8Array;
    if (packet.kind === 'c') payload = closePayload(packet.code, packet.reason);
    else if (packet.kind === 'o') payload = encoder.encode(JSON.stringify(packet.handshake));
    else payload = packet.data;
    parts.push(header(packet.kind, payload.length), payload);
  }
  return parts;
}

/** A sequenced packet as a sender's queue holds it: its kind and the payload a batch carries. */
export interface PayloadPacket {
  readonly kind: 't' | 'b' | 'c';
  /** The message's bytes, or a close packet's "code reason" (`closePayload`). */
  readonly data: Uint8Array;
}

/**
 * Encodes a batch of queued packets, `open` first when given: the payloads go out as they
 * are (no copy, no packet objects), so a close packet is written from the bytes it was
 * queued as.
 */
export function queuedBatchParts(firstSeq: number, packets: readonly PayloadPacket[], open?: Handshake): Uint8Array[] {
  const parts: Uint8Array[] = [encoder.encode(`${firstSeq};`)];
  if (open !== undefined) {
    const payload = encoder.encode(JSON.stringify(open));
    parts.push(header('o', payload.length), payload);
  }
  for (let i = 0; i < packets.length; i++) {
    const packet = packets[i]!;
    parts.push(header(packet.kind, packet.data.length), packet.data);
  }
  return parts;
}

export function encodeBatch(firstSeq: number, packets: readonly Packet[]): Uint8Array {
  return concat(batchParts(firstSeq, packets));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads a decimal number ending at `end` byte; returns [value, index of the terminator]. */
export function readDecimal(bytes: Uint8Array, start: number, terminator: number, what: string): [number, number] {
  let value = 0;
  let i = start;
  while (i < bytes.length && bytes[i] !== terminator) {
    const byte = bytes[i]!;
    if (byte < ZERO || byte > NINE) throw new WireError(`${what}: expected a digit at byte ${i}`);
    if (i - start >= MAX_DIGITS) throw new WireError(`${what}: number too long at byte ${start}`);
    value = value * 10 + (byte - ZERO);
    i++;
  }
  if (i === start) throw new WireError(`${what}: missing number at byte ${start}`);
  if (i >= bytes.length) throw new WireError(`${what}: truncated at byte ${i}`);
  // "007" is not a number this format writes: one spelling per value.
  if (bytes[start] === ZERO && i - start > 1) throw new WireError(`${what}: leading zero at byte ${start}`);
  if (!Number.isSafeInteger(value)) throw new WireError(`${what}: number too large`);
  return [value, i];
}

export interface DecodedBatch {
  readonly firstSeq: number;
  readonly packets: Packet[];
}

export interface DecodeOptions {
  /** Which packet kinds may appear (the server accepts no `o` from a client). */
  allowOpen?: boolean;
  /**
   * Validate text payloads as UTF-8 (a client must not send ill-formed text): `true` for
   * the portable decoder, or a function (the server passes Node's `buffer.isUtf8`, which
   * needs no string and runs at memory speed).
   */
  validateText?: boolean | ((bytes: Uint8Array) => boolean);
  /**
   * Most packets accepted; one more throws `TooManyPackets` at once, before anything past
   * the limit is read, so that a body of millions of empty packets costs no more than
   * the limit. Default: no limit.
   */
  maxPackets?: number;
}

/** Thrown when a batch holds more packets than `maxPackets`. */
export class TooManyPackets extends WireError {
  override get name(): string {
    return 'TooManyPackets';
  }
}

function strictUtf8(bytes: Uint8Array): boolean {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Where a `PacketCounter` is in the grammar of a batch. */
const CounterState = { SEQUENCE: 0, KIND: 1, LENGTH: 2, PAYLOAD: 3, STOPPED: 4 } as const;
type CounterState = (typeof CounterState)[keyof typeof CounterState];

/**
 * Counts the packets of a batch as its bytes arrive, in any chunking, without keeping
 * them: headers are read byte by byte, payloads skipped whole. A server can refuse a body
 * of too many packets at the chunk that shows it, before reading (let alone decoding) the
 * rest. It only counts: malformed bytes stop the count (`decodeBatch` tells what is wrong
 * once the body is whole).
 */
export class PacketCounter {
  /** Packets begun so far (counting stops one past `limit`). */
  count = 0;
  private state: CounterState = CounterState.SEQUENCE;
  private length = 0;
  private digits = 0;
  private remaining = 0;

  constructor(private readonly limit = Infinity) {}

  feed(bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.length && this.state !== CounterState.STOPPED) {
      if (this.count > this.limit) {
        this.state = CounterState.STOPPED;
        break;
      }
      if (this.state === CounterState.PAYLOAD) {
        const skip = Math.min(this.remaining, bytes.length - i);
        this.remaining -= skip;
        i += skip;
        if (this.remaining === 0) this.state = CounterState.KIND;
        continue;
      }
      const byte = bytes[i++]!;
      if (this.state === CounterState.SEQUENCE) {
        if (byte === SEMICOLON) this.state = CounterState.KIND;
      } else if (this.state === CounterState.KIND) {
        this.count++;
        this.length = 0;
        this.digits = 0;
        this.state = CounterState.LENGTH;
      } else if (byte === COLON && this.digits > 0) {
        this.remaining = this.length;
        this.state = this.length === 0 ? CounterState.KIND : CounterState.PAYLOAD;
      } else if (byte >= ZERO && byte <= NINE && this.digits < MAX_DIGITS) {
        this.length = this.length * 10 + (byte - ZERO);
        this.digits++;
      } else {
        this.state = CounterState.STOPPED;
      }
    }
  }
}

/** Decodes a whole batch; throws `WireError` on any deviation from the grammar. */
export function decodeBatch(bytes: Uint8Array, options: DecodeOptions = {}): DecodedBatch {
  const [firstSeq, semicolon] = readDecimal(bytes, 0, SEMICOLON, 'sequence');
  const validate = options.validateText === true ? strictUtf8 : options.validateText || null;
  const maxPackets = options.maxPackets ?? Infinity;
  const packets: Packet[] = [];
  let i = semicolon + 1;
  while (i < bytes.length) {
    if (packets.length >= maxPackets) throw new TooManyPackets('too many packets in one body');
    const kind = String.fromCharCode(bytes[i]!);
    if (kind !== 't' && kind !== 'b' && kind !== 'c' && !(kind === 'o' && options.allowOpen)) {
      throw new WireError(`unknown packet kind at byte ${i}`);
    }
    const [length, colon] = readDecimal(bytes, i + 1, COLON, 'length');
    const start = colon + 1;
    const end = start + length;
    if (end > bytes.length) throw new WireError(`packet at byte ${i} runs past the end`);
    const payload = bytes.subarray(start, end);
    i = end;
    if (kind === 't' || kind === 'b') {
      if (kind === 't' && validate !== null && length > 0 && !validate(payload)) throw new WireError('text packet is not valid UTF-8');
      packets.push({ kind, data: payload });
    } else if (kind === 'c') {
      packets.push(decodeClose(payload));
    } else {
      packets.push({ kind: 'o', handshake: decodeHandshake(utf8(payload)) });
    }
  }
  return { firstSeq, packets };
}

/** Strict UTF-8 (no BOM stripped): `WireError` on invalid bytes. */
export function utf8(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new WireError('not valid UTF-8');
  }
}

/** "code reason": a close code (1000-4999) and a UTF-8 reason. */
export function decodeClose(payload: Uint8Array | string): ClosePacket {
  const text = typeof payload === 'string' ? payload : utf8(payload);
  const match = /^([1-4][0-9]{3}) ([\s\S]*)$/.exec(text);
  if (match === null) throw new WireError('malformed close packet');
  return { kind: 'c', code: Number(match[1]), reason: match[2]! };
}

export function decodeHandshake(text: string): Handshake {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WireError('handshake is not JSON');
  }
  const h = value as Record<string, unknown>;
  if (typeof h !== 'object' || h === null || typeof h.sid !== 'string' || typeof h.transport !== 'string') {
    throw new WireError('handshake lacks sid or transport');
  }
  // A server that predates `maxPackets` did not limit packets: the default fits it too.
  if (h.maxPackets === undefined) h.maxPackets = DEFAULT_MAX_PACKETS;
  for (const key of ['hold', 'interval', 'heartbeat', 'sessionTimeout', 'maxBody', 'ackDelay', 'maxPackets'] as const) {
    if (typeof h[key] !== 'number' || !Number.isFinite(h[key] as number) || (h[key] as number) < 0) {
      throw new WireError(`handshake field ${key} is not a number`);
    }
  }
  return h as unknown as Handshake;
}

/** Byte size of a packet in a batch, header included (for splitting bodies under a limit). */
export function packetSize(kind: string, payloadLength: number): number {
  return 2 + String(payloadLength).length + payloadLength;
}

// ---- Server-Sent Events ------------------------------------------------------------------

/** A text payload SSE can carry raw: no CR (every CR or CRLF would end a line). */
function sseSafe(text: string): boolean {
  return !text.includes('\r');
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function toBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((i + 1 < bytes.length ? bytes[i + 1]! : 0) << 8);
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63]! + '=' : '==';
  }
  return out;
}

const BASE64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) BASE64_INDEX[BASE64.charCodeAt(i)] = i;

export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new WireError('base64 length is not a multiple of 4');
  let padding = 0;
  if (text.endsWith('==')) padding = 2;
  else if (text.endsWith('=')) padding = 1;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      let v: number;
      if (c === 0x3d && i + 4 === text.length && j >= 4 - padding) v = 0;
      else {
        v = c < 128 ? BASE64_INDEX[c]! : -1;
        if (v < 0) throw new WireError('invalid base64');
      }
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  // One spelling per value: the unused bits of the last group must be zero.
  if (padding === 1 && (BASE64_INDEX[text.charCodeAt(text.length - 2)]! & 3) !== 0) throw new WireError('non-canonical base64');
  if (padding === 2 && (BASE64_INDEX[text.charCodeAt(text.length - 3)]! & 15) !== 0) throw new WireError('non-canonical base64');
  return out;
}

/** The data field of a text message: raw when SSE can carry it, else a JSON string. */
export function sseTextData(text: string): string {
  return sseSafe(text) ? 't' + text : 'j' + JSON.stringify(text);
}

/** The data field of a close packet. */
export function sseCloseData(code: number, reason: string): string {
  return sseTextData(`${code} ${reason}`).replace(/^./, (k) => (k === 't' ? 'c' : 'C'));
}

/**
 * One SSE event for a sequenced packet; `data` comes from `sseTextData`, `sseCloseData`
 * or is 'b' + base64. LFs become separate `data:` lines, which the parser joins again.
 */
export function sseEvent(seq: number, data: string): string {
  return `id: ${seq}\ndata: ${data.includes('\n') ? data.split('\n').join('\ndata: ') : data}\n\n`;
}

/** Encodes a packet as an SSE event (convenience for tests and small payloads). */
export function ssePacketEvent(seq: number, packet: MessagePacket | ClosePacket): string {
  if (packet.kind === 'c') return sseEvent(seq, sseCloseData(packet.code, packet.reason));
  if (packet.kind === 'b') return sseEvent(seq, 'b' + toBase64(packet.data));
  return sseEvent(seq, sseTextData(strictText(packet.data)));
}

/** How a sender turns payload bytes into the text of an event (a server has native ones). */
export interface PayloadText {
  utf8(bytes: Uint8Array): string;
  base64(bytes: Uint8Array): string;
}

/** The portable conversions: `TextDecoder` and `toBase64`. */
export const PORTABLE_PAYLOAD_TEXT: PayloadText = {
  utf8: (bytes) => textDecoder.decode(bytes),
  base64: toBase64,
};

/** The SSE event of a queued packet, from the bytes it was queued as. */
export function sseQueuedEvent(seq: number, packet: PayloadPacket, text: PayloadText = PORTABLE_PAYLOAD_TEXT): string {
  if (packet.kind === 'b') return sseEvent(seq, 'b' + text.base64(packet.data));
  const decoded = text.utf8(packet.data);
  if (packet.kind === 't') return sseEvent(seq, sseTextData(decoded));
  // The close payload is "code reason" already: the same text, as a `c` (or `C`) field.
  return sseEvent(seq, sseSafe(decoded) ? 'c' + decoded : 'C' + JSON.stringify(decoded));
}

function strictText(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

/**
 * Message text, decoded as it was sent: a leading U+FEFF is part of a message (the
 * decoder's default would drop it as a byte order mark).
 */
export const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function sseOpenEvent(handshake: Handshake, retry: number): string {
  return `retry: ${retry}\nevent: session\ndata: ${JSON.stringify(handshake)}\n\n`;
}

/** The head of a stream that resumes a session: how soon a native EventSource comes back. */
export function sseRetryEvent(retry: number): string {
  return `retry: ${retry}\n\n`;
}

/** A comment line: keeps proxies from cutting an idle stream, ignored by every parser. */
export const SSE_HEARTBEAT = ':\n\n';

/** Turns the data of an SSE message event back into a packet. */
export function decodeSseData(data: string): MessagePacket | ClosePacket {
  const kind = data.charAt(0);
  const rest = data.slice(1);
  if (kind === 't') return { kind: 't', data: encoder.encode(rest) };
  if (kind === 'b') return { kind: 'b', data: fromBase64(rest) };
  if (kind === 'c') return decodeClose(rest);
  if (kind === 'C') return decodeClose(jsonString(rest));
  if (kind === 'j') return { kind: 't', data: encoder.encode(jsonString(rest)) };
  throw new WireError('unknown SSE data kind');
}

function jsonString(rest: string): string {
  let value: unknown;
  try {
    value = JSON.parse(rest);
  } catch {
    throw new WireError('SSE data is not JSON');
  }
  if (typeof value !== 'string') throw new WireError('SSE data is not a JSON string');
  return value;
}

/**
 * The longest SSE line or event data the parser holds, in characters: a message of the
 * server's default `maxPayload` (16 MiB) in base64 is 22.4 M characters; twice that.
 */
export const DEFAULT_MAX_SSE_EVENT = 48 * 1024 * 1024;

export interface SseEvent {
  /** The `event` field ('message' when absent). */
  type: string;
  data: string;
  /** The last event id seen so far in the stream (SSE semantics: it persists). */
  lastEventId: string;
}

/**
 * An incremental `text/event-stream` parser following the WHATWG algorithm: any chunking
 * (even between CR and LF, or inside a UTF-8 sequence) gives the same events. Linear in
 * the stream: each chunk is scanned once for line ends, and a line that spans chunks is
 * kept in pieces until it ends. A line, or an event's data, longer than `maxEventLength`
 * characters throws a `WireError`: a server cannot make the client hold an endless one.
 */
export class SseParser {
  /** The stream's one byte order mark is stripped by `feed`, not by the decoder. */
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  /** The line not ended yet, in pieces, and their length. */
  private pending: string[] = [];
  private pendingLength = 0;
  private data = '';
  private hasData = false;
  private type = '';
  private lastEventId = '';
  private first = true;
  /** A chunk ended on CR: a LF at the start of the next one belongs to it. */
  private pendingCr = false;
  /** The last `retry` value seen (ms), or -1. */
  retry = -1;

  constructor(private readonly maxEventLength = DEFAULT_MAX_SSE_EVENT) {}

  /** Feeds bytes; returns the events they complete. */
  push(chunk: Uint8Array): SseEvent[] {
    return this.feed(this.decoder.decode(chunk, { stream: true }));
  }

  /** Feeds text (already decoded). */
  feed(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    // A chunk that ends inside a UTF-8 sequence decodes to nothing: keep the CR state.
    if (text.length === 0) return events;
    if (this.first) {
      // The stream's BOM, if any, is not part of the first line (one, as UTF-8 decode strips).
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.first = false;
    }
    if (this.pendingCr && text.charCodeAt(0) === 0x0a) text = text.slice(1);
    this.pendingCr = false;
    let start = 0;
    let lf = text.indexOf('\n');
    let cr = text.indexOf('\r');
    while (lf !== -1 || cr !== -1) {
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      let line = text.slice(start, end);
      if (this.pending.length > 0) {
        this.pending.push(line);
        line = this.pending.join('');
        this.pending = [];
        this.pendingLength = 0;
      }
      if (line.length > this.maxEventLength) throw new WireError('SSE line too long');
      this.line(line, events);
      start = end + 1;
      if (end === cr) {
        if (start === text.length) this.pendingCr = true;
        else if (text.charCodeAt(start) === 0x0a) start++;
      }
      if (lf !== -1 && lf < start) lf = text.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
    }
    if (start < text.length) {
      const rest = text.slice(start);
      this.pendingLength += rest.length;
      if (this.pendingLength > this.maxEventLength) throw new WireError('SSE line too long');
      this.pending.push(rest);
    }
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      // Dispatch (WHATWG "dispatch the event"): data without a trailing LF.
      if (this.hasData) events.push({ type: this.type || 'message', data: this.data, lastEventId: this.lastEventId });
      this.data = '';
      this.hasData = false;
      this.type = '';
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // a comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.type = value;
        break;
      case 'data':
        this.data = this.hasData ? this.data + '\n' + value : value;
        this.hasData = true;
        if (this.data.length > this.maxEventLength) throw new WireError('SSE event too long');
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // other fields are ignored
    }
  }
}
