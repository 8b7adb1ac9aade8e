/**
 * Byte helpers for protocol tests: annotated hex, a seeded PRNG, chunkers that cut an
 * input every way a TCP stream might, and a naive reference framer/deframer (RFC 6455
 * §5.2) written independently of `src/` so that tests do not check the code against itself.
 *
 * The parser unmasks in place, so every chunker returns fresh copies: one input can be
 * fed many times.
 */

/**
 * Parses hex written byte by byte, with `//` comments to the end of the line:
 *
 *   hex(`81              // FIN, text
 *        05              // unmasked, length 5
 *        48 65 6c 6c 6f  // "Hello"`)
 */
export function hex(text: string): Buffer {
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${JSON.stringify(text)}`);
  return Buffer.from(digits, 'hex');
}

/** `48 65 6c`: the inverse of `hex`, for readable assertion failures. */
export function toHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

export function concat(...parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

// ---- Seeded randomness ------------------------------------------------------------------

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [low, high]. */
export function randomInt(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

export function randomBytes(random: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 256) | 0;
  return out;
}

// ---- Chunkers ---------------------------------------------------------------------------

function copy(data: Uint8Array, start = 0, end = data.length): Buffer {
  return Buffer.from(data.subarray(start, end));
}

/** The input in one piece. */
export function whole(data: Uint8Array): Buffer[] {
  return [copy(data)];
}

/** One byte per chunk. */
export function bytewise(data: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i++) out.push(copy(data, i, i + 1));
  return out;
}

/** Cuts at the given offsets (sorted, deduplicated, ends ignored). */
export function splitAt(data: Uint8Array, ...positions: number[]): Buffer[] {
  const cuts = [...new Set(positions)].filter((p) => p > 0 && p < data.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    out.push(copy(data, start, cut));
    start = cut;
  }
  out.push(copy(data, start));
  return out;
}

/** Two pieces, cut at every inner boundary in turn (n - 1 splits). */
export function* everySplit(data: Uint8Array): Generator<Buffer[]> {
  for (let cut = 1; cut < data.length; cut++) yield splitAt(data, cut);
}

/** Cut at random places into at most `maxPieces` pieces. */
export function randomSplit(data: Uint8Array, random: () => number, maxPieces = 16): Buffer[] {
  const count = randomInt(random, 0, Math.min(maxPieces - 1, Math.max(0, data.length - 1)));
  const positions: number[] = [];
  for (let i = 0; i < count; i++) positions.push(randomInt(random, 1, Math.max(1, data.length - 1)));
  return splitAt(data, ...positions);
}

export interface Chunking {
  name: string;
  chunks: Buffer[];
}

export interface ChunkingOptions {
  seed?: number;
  /** How many random chunkings. */
  random?: number;
  /** Above this length, the every-boundary and byte-wise cuts are limited to the first bytes. */
  exhaustiveUpTo?: number;
}

/**
 * Every way the tests cut an input: whole, one byte at a time, split in two at every
 * boundary, and random splits. For long inputs the every-boundary splits cover the first
 * `exhaustiveUpTo` bytes (the headers) plus the last few.
 */
export function* chunkings(data: Uint8Array, options: ChunkingOptions = {}): Generator<Chunking> {
  const { seed = 1, random: randomCount = 8, exhaustiveUpTo = 1024 } = options;
  yield { name: 'whole', chunks: whole(data) };
  if (data.length <= 1) return;
  if (data.length <= exhaustiveUpTo) {
    yield { name: 'one byte at a time', chunks: bytewise(data) };
    for (const chunks of everySplit(data)) yield { name: `split at ${chunks[0]!.length}`, chunks };
  } else {
    // The headers byte by byte, then the payload in one go.
    yield { name: 'header bytes one at a time', chunks: splitAt(data, ...Array.from({ length: 16 }, (_, i) => i + 1)) };
    for (let cut = 1; cut <= 16; cut++) yield { name: `split at ${cut}`, chunks: splitAt(data, cut) };
    for (let cut = data.length - 4; cut < data.length; cut++) yield { name: `split at ${cut}`, chunks: splitAt(data, cut) };
  }
  const random = prng(seed);
  for (let i = 0; i < randomCount; i++) {
    yield { name: `random split #${i} (seed ${seed})`, chunks: randomSplit(data, random) };
  }
}

// ---- Reference framing (RFC 6455 §5.2), deliberately naive -------------------------------

/** RFC 6455 §5.3, one byte at a time: the reference the word-wise masking is checked against. */
export function naiveMask(data: Uint8Array, mask: Uint8Array, offset = 0): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i]! ^= mask[(i + offset) % 4]!;
  return out;
}

export interface RawFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Four bytes to mask with, or null/absent for an unmasked frame. */
  mask?: Uint8Array | null;
  /** Announce this length instead of the payload's (to build lying or header-only frames). */
  length?: number | bigint;
  /** Force the 16-bit (126) or 64-bit (127) length form. */
  lengthForm?: 7 | 16 | 64;
}

/** Builds one frame byte by byte, as the RFC describes it. */
export function frame(spec: RawFrame): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : Buffer.from(spec.payload ?? []);
  const length = BigInt(spec.length ?? payload.length);
  const form = spec.lengthForm ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const bytes: number[] = [];
  bytes.push(
    (spec.fin === false ? 0 : 0x80) |
      (spec.rsv1 ? 0x40 : 0) |
      (spec.rsv2 ? 0x20 : 0) |
      (spec.rsv3 ? 0x10 : 0) |
      spec.opcode,
  );
  const maskBit = spec.mask ? 0x80 : 0;
  if (form === 7) {
    bytes.push(maskBit | Number(length));
  } else if (form === 16) {
    bytes.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  } else {
    bytes.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) bytes.push(Number((length >> shift) & 0xffn));
  }
  if (spec.mask) bytes.push(...spec.mask);
  const body = spec.mask ? naiveMask(payload, spec.mask) : payload;
  return Buffer.concat([Buffer.from(bytes), body]);
}

export interface DecodedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  /** The masking key, or null. */
  mask: Buffer | null;
  /** Unmasked payload. */
  payload: Buffer;
}

/** Splits a byte stream into frames; throws if it does not end on a frame boundary. */
export function decodeFrames(data: Uint8Array): DecodedFrame[] {
  const input = Buffer.from(data);
  const frames: DecodedFrame[] = [];
  let at = 0;
  while (at < input.length) {
    const need = (n: number): void => {
      if (at + n > input.length) throw new Error(`truncated frame at byte ${at}`);
    };
    need(2);
    const b0 = input[at]!;
    const b1 = input[at + 1]!;
    at += 2;
    let length = b1 & 0x7f;
    if (length === 126) {
      need(2);
      length = input.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      need(8);
      length = Number(input.readBigUInt64BE(at));
      at += 8;
    }
    let mask: Buffer | null = null;
    if (b1 & 0x80) {
      need(4);
      mask = input.subarray(at, at + 4);
      at += 4;
    }
    need(length);
    const raw = input.subarray(at, at + length);
    at += length;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      mask: mask === null ? null : Buffer.from(mask),
      payload: mask === null ? Buffer.from(raw) : naiveMask(raw, mask),
    });
  }
  return frames;
}

/** Joins what `dataToSend()` returned. */
export function joinChunks(chunks: readonly Uint8Array[]): Buffer {
  return Buffer.concat(chunks);
}
