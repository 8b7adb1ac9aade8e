import { MASK_WASM } from './mask-wasm.js';

/**
 * RFC 6455 §5.3: payload byte i is XORed with mask byte (i + offset) % 4. This runs over
 * every byte a client sends, so it is the hottest loop of a server receiving large
 * messages. Two implementations:
 *
 * - WebAssembly SIMD (mask.wat): the bytes are copied into the module's 64 KiB scratch
 *   memory, XORed 16 bytes per instruction, and copied back. Both copies are memcpy, so
 *   this is 3-5x faster than the best plain JavaScript on kilobytes.
 * - JavaScript: 32 bits at a time on an aligned Int32Array view, four words per
 *   iteration, where WebAssembly is unavailable (`--jitless`, or a runtime without SIMD:
 *   compiling the module then fails and this takes over).
 *
 * Payloads under 128 bytes, the common chat-sized message, take a plain byte loop.
 */

interface SimdMasker {
  /** The module's memory, the scratch area. */
  readonly scratch: Uint8Array;
  /** XORs scratch[ptr, ptr + len) with `word`, little-endian: its low byte goes first. */
  readonly mask: (ptr: number, len: number, word: number) => void;
}

/**
 * The little of the WebAssembly JS API used here. It is a global in Node and browsers
 * alike, but its types come with TypeScript's DOM library, which Node code does not load.
 */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
};

function loadSimd(): SimdMasker | null {
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(MASK_WASM));
    return {
      scratch: new Uint8Array((exports.memory as { buffer: ArrayBuffer }).buffer),
      mask: exports.mask as SimdMasker['mask'],
    };
  } catch {
    return null;
  }
}

const simd = loadSimd();

/** Which implementation `applyMask` uses for large payloads in this process. */
export const maskImplementation: 'simd' | 'js' = simd === null ? 'js' : 'simd';

/**
 * Below this length a plain byte loop is fastest: the copies and views the other paths
 * set up cost more than they save (measured: 64 bytes in ~28 ns against ~50-80 ns).
 */
export const SMALL = 128;

/** XORs `data[start, end)` in place with `mask`, as if the payload began at `offset`. */
export function applyMask(
  data: Uint8Array,
  mask: Uint8Array,
  start = 0,
  end = data.length,
  offset = 0,
): void {
  if (simd !== null && end - start >= SMALL) applyMaskSimd(simd, data, mask, start, end, offset);
  else applyMaskJs(data, mask, start, end, offset);
}

/** The JavaScript paths alone; exported so tests can hold both implementations to the same answers. */
export function applyMaskJs(
  data: Uint8Array,
  mask: Uint8Array,
  start = 0,
  end = data.length,
  offset = 0,
): void {
  if (end - start < SMALL) applyMaskBytes(data, mask, start, end, offset);
  else applyMaskWords(data, mask, start, end, offset);
}

/**
 * `applyMask` for a payload under 128 bytes that also tells whether every unmasked byte is
 * ASCII. Such text is valid UTF-8 (RFC 3629), so a short text message needs no second
 * pass to be checked: the OR of its bytes comes with the unmasking for free.
 */
export function unmaskSmallIsAscii(
  data: Uint8Array,
  mask: Uint8Array,
  start: number,
  end: number,
  offset: number,
): boolean {
  const k0 = mask[offset & 3]!;
  const k1 = mask[(offset + 1) & 3]!;
  const k2 = mask[(offset + 2) & 3]!;
  const k3 = mask[(offset + 3) & 3]!;
  let seen = 0;
  let i = start;
  for (const last = end - 3; i < last; i += 4) {
    seen |= data[i]! ^= k0;
    seen |= data[i + 1]! ^= k1;
    seen |= data[i + 2]! ^= k2;
    seen |= data[i + 3]! ^= k3;
  }
  if (i < end) seen |= data[i++]! ^= k0;
  if (i < end) seen |= data[i++]! ^= k1;
  if (i < end) seen |= data[i]! ^= k2;
  return seen < 0x80;
}

/** Byte by byte, four per iteration with the key bytes in registers. */
function applyMaskBytes(data: Uint8Array, mask: Uint8Array, start: number, end: number, offset: number): void {
  const k0 = mask[offset & 3]!;
  const k1 = mask[(offset + 1) & 3]!;
  const k2 = mask[(offset + 2) & 3]!;
  const k3 = mask[(offset + 3) & 3]!;
  let i = start;
  for (const last = end - 3; i < last; i += 4) {
    data[i]! ^= k0;
    data[i + 1]! ^= k1;
    data[i + 2]! ^= k2;
    data[i + 3]! ^= k3;
  }
  if (i < end) data[i++]! ^= k0;
  if (i < end) data[i++]! ^= k1;
  if (i < end) data[i]! ^= k2;
}

function applyMaskSimd(
  simd: SimdMasker,
  data: Uint8Array,
  mask: Uint8Array,
  start: number,
  end: number,
  offset: number,
): void {
  const { scratch } = simd;
  // WebAssembly loads are little-endian whatever the host: byte k of the word is the key
  // byte for payload offset `offset + k`.
  const word =
    mask[offset & 3]! | (mask[(offset + 1) & 3]! << 8) | (mask[(offset + 2) & 3]! << 16) | (mask[(offset + 3) & 3]! << 24);
  // Slices are a multiple of 4 bytes long (the scratch size), so the key's phase carries
  // over from one slice to the next unchanged.
  for (let i = start; i < end; ) {
    const n = Math.min(end - i, scratch.length);
    scratch.set(data.subarray(i, i + n));
    simd.mask(0, n, word);
    data.set(n === scratch.length ? scratch : scratch.subarray(0, n), i);
    i += n;
  }
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** 32 bits at a time on an aligned Int32Array view, for `end - start >= SMALL`. */
function applyMaskWords(data: Uint8Array, mask: Uint8Array, start: number, end: number, offset: number): void {
  let i = start;
  let phase = offset & 3;
  // Bytes up to the next 4-byte boundary of the underlying memory, one at a time.
  const head = (4 - ((data.byteOffset + i) & 3)) & 3;
  for (let k = 0; k < head; k++, i++) {
    data[i]! ^= mask[phase]!;
    phase = (phase + 1) & 3;
  }
  const b0 = mask[phase]!;
  const b1 = mask[(phase + 1) & 3]!;
  const b2 = mask[(phase + 2) & 3]!;
  const b3 = mask[(phase + 3) & 3]!;
  const word = littleEndian ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
  const words = (end - i) >>> 2;
  const view = new Int32Array(data.buffer, data.byteOffset + i, words);
  const unrolled = words & ~3;
  let w = 0;
  for (; w < unrolled; w += 4) {
    view[w]! ^= word;
    view[w + 1]! ^= word;
    view[w + 2]! ^= word;
    view[w + 3]! ^= word;
  }
  for (; w < words; w++) view[w]! ^= word;
  // Whole words keep the phase; only the tail remains.
  applyMaskBytes(data, mask, i + (words << 2), end, phase);
}
