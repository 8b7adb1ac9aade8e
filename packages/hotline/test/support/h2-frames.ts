/**
 * A raw HTTP/2 client for tests that must send what no well-behaved implementation would:
 * TLS with ALPN "h2", the client preface, frames built byte by byte (RFC 9113 §4, §6), a
 * header block encoder that only writes literals (RFC 7541 §6.2.2, no Huffman, no index)
 * and a full HPACK decoder (static and dynamic tables, Huffman) for what the server
 * answers. Written independently of `src/`, so that the server is not checked against
 * itself. Every wait has a deadline.
 */
import tls from 'node:tls';
import { withTimeout } from './timing.js';

/** RFC 9113 §3.4: the client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** RFC 9113 §6 frame types. */
export const FrameType = { DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4, PUSH_PROMISE: 0x5, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
/** RFC 9113 §6.5.2, RFC 8441 §3 (ENABLE_CONNECT_PROTOCOL). */
export const Setting = { HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5, MAX_HEADER_LIST_SIZE: 0x6, ENABLE_CONNECT_PROTOCOL: 0x8 } as const;
/** RFC 9113 §7. */
export const ErrorCode = { NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, FLOW_CONTROL_ERROR: 0x3, SETTINGS_TIMEOUT: 0x4, STREAM_CLOSED: 0x5, FRAME_SIZE_ERROR: 0x6, REFUSED_STREAM: 0x7, CANCEL: 0x8, COMPRESSION_ERROR: 0x9, CONNECT_ERROR: 0xa, ENHANCE_YOUR_CALM: 0xb, INADEQUATE_SECURITY: 0xc, HTTP_1_1_REQUIRED: 0xd } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** HEADERS (with its CONTINUATIONs): the decoded fields, in order. */
  headers?: Array<[string, string]>;
}

// ---- Frames (RFC 9113 §4.1: 24-bit length, type, flags, R + 31-bit stream id) ----------

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** SETTINGS with the pairs given, in order (duplicates and unknown ids kept: §6.5.2). */
export function settingsFrame(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function headersFrame(streamId: number, fields: ReadonlyArray<readonly [string, string]>, endStream = false): Buffer {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, encodeHeaderBlock(fields));
}

export function dataFrame(streamId: number, payload: Uint8Array, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  return frame(FrameType.RST_STREAM, 0, streamId, uint32(code));
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, uint32(increment));
}

export function pingFrame(data: Uint8Array = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function goawayFrame(lastStreamId: number, code: number): Buffer {
  return frame(FrameType.GOAWAY, 0, 0, Buffer.concat([uint32(lastStreamId), uint32(code)]));
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

/** The error code of a RST_STREAM or a GOAWAY. */
export function errorCodeOf(f: Frame): number {
  return f.payload.readUInt32BE(f.type === FrameType.GOAWAY ? 4 : 0);
}

// ---- HPACK (RFC 7541) ------------------------------------------------------------------

/** RFC 7541 §5.1: an integer with an N-bit prefix; `first` holds the representation's bits. */
export function encodeInteger(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** RFC 7541 §5.2 with H = 0: the length, then the octets as they are. */
function encodeString(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from(encodeInteger(bytes.length, 7)), bytes]);
}

/**
 * RFC 7541 §6.2.2, "Literal Header Field without Indexing — New Name" for every field:
 * a block any decoder reads without state, so that a test controls every byte.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), encodeString(name), encodeString(value)]));
}

/** RFC 7541 Appendix A. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * RFC 7541 Appendix B, the code length of each symbol 0 to 256 (EOS), one letter each:
 * A = 5 bits … Z = 30 bits. The code is canonical (codes of one length are consecutive,
 * in symbol order, and each length starts where the shorter ones stopped), so the lengths
 * give the codes: symbol '0' is 00000, 'a' 00011, EOS thirty ones.
 */
const HUFFMAN_LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';

/** code length → (code → symbol), built once from the lengths. */
const HUFFMAN_DECODE: ReadonlyMap<number, ReadonlyMap<number, number>> = (() => {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 65 + 5);
  const order = lengths.map((length, symbol) => ({ length, symbol })).sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const table = new Map<number, Map<number, number>>();
  let code = 0;
  let previous = order[0]!.length;
  order.forEach(({ length, symbol }, i) => {
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    if (!table.has(length)) table.set(length, new Map());
    table.get(length)!.set(code, symbol);
  });
  return table;
})();

/** The Huffman code of one symbol, for the tests of the decoder itself. */
export function huffmanCodeOf(symbol: number): { code: number; length: number } {
  for (const [length, codes] of HUFFMAN_DECODE) for (const [code, s] of codes) if (s === symbol) return { code, length };
  throw new Error(`no symbol ${symbol}`);
}

/** RFC 7541 §5.2: the padding is at most 7 bits, all ones (the EOS prefix); EOS itself is an error. */
export function huffmanDecode(input: Uint8Array): string {
  const out: number[] = [];
  let code = 0;
  let length = 0;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const symbol = HUFFMAN_DECODE.get(length)?.get(code);
      if (symbol === undefined) {
        if (length > 30) throw new Error('HPACK: not a Huffman code');
        continue;
      }
      if (symbol === 256) throw new Error('HPACK: EOS in a Huffman string');
      out.push(symbol);
      code = 0;
      length = 0;
    }
  }
  if (length > 7 || code !== 2 ** length - 1) throw new Error('HPACK: bad Huffman padding');
  return Buffer.from(out).toString('latin1');
}

/** RFC 7541 §2.3: one connection's decoding context (the dynamic table, newest first). */
export class HpackDecoder {
  private readonly dynamic: Array<[string, string]> = [];
  private size = 0;
  private maxSize = 4096;

  decode(block: Buffer): Array<[string, string]> {
    const fields: Array<[string, string]> = [];
    let at = 0;
    const integer = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[at++]! & max;
      if (value < max) return value;
      let shift = 0;
      let byte: number;
      do {
        if (at >= block.length) throw new Error('HPACK: truncated integer');
        byte = block[at++]!;
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      return value;
    };
    const string = (): string => {
      const huffman = (block[at]! & 0x80) !== 0;
      const length = integer(7);
      if (at + length > block.length) throw new Error('HPACK: truncated string');
      const raw = block.subarray(at, at + length);
      at += length;
      return huffman ? huffmanDecode(raw) : raw.toString('latin1');
    };
    while (at < block.length) {
      const first = block[at]!;
      if (first & 0x80) {
        // §6.1 Indexed Header Field.
        fields.push([...this.entry(integer(7))]);
      } else if (first & 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const index = integer(6);
        const name = index === 0 ? string() : this.entry(index)[0];
        const field: [string, string] = [name, string()];
        fields.push(field);
        this.insert(field);
      } else if (first & 0x20) {
        // §6.3 Dynamic Table Size Update.
        this.maxSize = integer(5);
        this.evict();
      } else {
        // §6.2.2 without Indexing, §6.2.3 Never Indexed: 4-bit prefix.
        const index = integer(4);
        const name = index === 0 ? string() : this.entry(index)[0];
        fields.push([name, string()]);
      }
    }
    return fields;
  }

  private entry(index: number): readonly [string, string] {
    const entry = index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.dynamic[index - STATIC_TABLE.length - 1];
    if (index === 0 || entry === undefined) throw new Error(`HPACK: no entry ${index}`);
    return entry;
  }

  /** §4.1: an entry's size is its name and value octets plus 32. */
  private insert(field: [string, string]): void {
    this.dynamic.unshift(field);
    this.size += field[0].length + field[1].length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.size -= name.length + value.length + 32;
    }
  }
}

// ---- A connection ----------------------------------------------------------------------

export interface H2ClientOptions {
  /** Our SETTINGS, sent right after the preface. */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** Give back flow-control credit for every DATA received (default true). */
  windowUpdates?: boolean;
}

/**
 * One HTTP/2 connection over TLS to 127.0.0.1. Every frame received is kept (`frames`),
 * header blocks decoded in arrival order; the server's SETTINGS and PINGs are
 * acknowledged as RFC 9113 §6.5.3 and §6.7 require.
 */
export class H2Client {
  readonly frames: Frame[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();
  private readonly waiters = new Set<() => void>();
  private pendingHeaders: Frame | null = null;
  private nextStreamId = 1;
  private readonly windowUpdates: boolean;
  /** Resolves when TCP is closed, whoever closed it. */
  readonly closed: Promise<void>;
  ended = false;

  private constructor(
    readonly socket: tls.TLSSocket,
    options: H2ClientOptions,
  ) {
    this.windowUpdates = options.windowUpdates ?? true;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, options: H2ClientOptions = {}): Promise<H2Client> {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      }),
      3000,
      'TLS to connect',
    );
    if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}, not h2`);
    const client = new H2Client(socket, options);
    client.write(PREFACE, settingsFrame(options.settings ?? []));
    await client.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0, 'the server SETTINGS');
    return client;
  }

  /** The server's SETTINGS, the first frame it sends (RFC 9113 §3.4). */
  get serverSettings(): Map<number, number> {
    const f = this.frames.find((x) => x.type === FrameType.SETTINGS && (x.flags & Flag.ACK) === 0)!;
    const out = new Map<number, number>();
    for (let i = 0; i + 6 <= f.payload.length; i += 6) out.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
    return out;
  }

  write(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  /** A new client stream id (RFC 9113 §5.1.1: odd, increasing). */
  streamId(): number {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    return id;
  }

  /** The first frame received, now or later, that `match` accepts. */
  waitFor(match: (f: Frame) => boolean, what: string, ms = 3000): Promise<Frame> {
    return withTimeout(
      new Promise<Frame>((resolve, reject) => {
        const check = (): void => {
          const found = this.frames.find(match);
          if (found) {
            this.waiters.delete(check);
            resolve(found);
          } else if (this.ended) {
            this.waiters.delete(check);
            reject(new Error(`the connection closed before ${what}`));
          }
        };
        this.waiters.add(check);
        check();
      }),
      ms,
      what,
    );
  }

  /** The response HEADERS of a stream, or its RST_STREAM: whichever comes first. */
  async answer(streamId: number, ms = 3000): Promise<{ status?: number; headers?: Map<string, string>; reset?: number }> {
    const f = await this.waitFor((x) => x.streamId === streamId && (x.type === FrameType.HEADERS || x.type === FrameType.RST_STREAM), `an answer on stream ${streamId}`, ms);
    if (f.type === FrameType.RST_STREAM) return { reset: errorCodeOf(f) };
    const headers = new Map(f.headers);
    return { status: Number(headers.get(':status')), headers };
  }

  /** The DATA received on a stream so far, joined. */
  dataOf(streamId: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FrameType.DATA && f.streamId === streamId).map((f) => f.payload));
  }

  goaway(ms = 3000): Promise<Frame> {
    return this.waitFor((f) => f.type === FrameType.GOAWAY, 'GOAWAY', ms);
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 9) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < 9 + length) break;
      const f: Frame = { type: this.buffer[3]!, flags: this.buffer[4]!, streamId: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.buffer.subarray(9, 9 + length)) };
      this.buffer = this.buffer.subarray(9 + length);
      this.handle(f);
    }
    this.wake();
  }

  private handle(f: Frame): void {
    if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (f.type === FrameType.PING && (f.flags & Flag.ACK) === 0) this.write(pingFrame(f.payload, true));
    if (f.type === FrameType.DATA && this.windowUpdates && f.payload.length > 0) {
      this.write(windowUpdateFrame(0, f.payload.length), windowUpdateFrame(f.streamId, f.payload.length));
    }
    if (f.type === FrameType.HEADERS) {
      // §6.2: strip padding and priority to reach the field block fragment.
      let at = 0;
      let end = f.payload.length;
      if (f.flags & Flag.PADDED) end -= f.payload[at++]!;
      if (f.flags & Flag.PRIORITY) at += 5;
      f.payload = f.payload.subarray(at, end);
      if (f.flags & Flag.END_HEADERS) f.headers = this.decoder.decode(f.payload);
      else this.pendingHeaders = f;
    } else if (f.type === FrameType.CONTINUATION && this.pendingHeaders !== null) {
      const head = this.pendingHeaders;
      head.payload = Buffer.concat([head.payload, f.payload]);
      if (f.flags & Flag.END_HEADERS) {
        head.headers = this.decoder.decode(head.payload);
        this.pendingHeaders = null;
      }
      return;
    }
    this.frames.push(f);
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The request head of an RFC 8441 §4 extended CONNECT for a WebSocket. */
export function webSocketConnect(port: number, path = '/', extra: ReadonlyArray<readonly [string, string]> = [['sec-websocket-version', '13']]): Array<[string, string]> {
  return [[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'https'], [':path', path], [':authority', `127.0.0.1:${port}`], ...extra.map(([n, v]) => [n, v] as [string, string])];
}
