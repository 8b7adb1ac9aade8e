import { randomFillSync } from 'node:crypto';
import { applyMask } from './mask.js';

/**
 * RFC 6455 §5.2 frame headers. A server frame is written as [header, payload] so a large
 * payload goes to the socket with writev and is never copied; small ones are copied
 * into the header's buffer, which is cheaper than a second write. Client frames are
 * always copied: §5.3 requires masking and the caller's buffer must stay intact.
 */

/**
 * Payloads up to this size are copied next to their header rather than written separately.
 * Kept small: the shell merges the frames of one flush into a single buffer anyway (up
 * to its merge limit), so copying a larger payload here would copy it twice.
 */
export const COPY_THRESHOLD = 1024;

export interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  /** §5.3: four bytes for a client frame, `null` for a server frame. */
  mask: Uint8Array | null;
}

export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}

/** Writes a frame header at `target[offset]` and returns the offset after it. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  payloadLength: number,
  fin: boolean,
  rsv1: boolean,
  mask: Uint8Array | null,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = mask ? 0x80 : 0;
  // §5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit (most significant bit 0).
  if (payloadLength < 126) {
    target[offset + 1] = maskBit | payloadLength;
    offset += 2;
  } else if (payloadLength < 65536) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = payloadLength >>> 8;
    target[offset + 3] = payloadLength & 0xff;
    offset += 4;
  } else {
    target[offset + 1] = maskBit | 127;
    const high = Math.floor(payloadLength / 0x1_0000_0000);
    const low = payloadLength >>> 0;
    target[offset + 2] = 0;
    target[offset + 3] = 0;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = low >>> 24;
    target[offset + 7] = (low >>> 16) & 0xff;
    target[offset + 8] = (low >>> 8) & 0xff;
    target[offset + 9] = low & 0xff;
    offset += 10;
  }
  if (mask) {
    target[offset] = mask[0]!;
    target[offset + 1] = mask[1]!;
    target[offset + 2] = mask[2]!;
    target[offset + 3] = mask[3]!;
    offset += 4;
  }
  return offset;
}

/**
 * Encodes one frame. Returns one buffer, or two ([header, payload]) when the payload is
 * large and unmasked, to be written together (writev).
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions,
): Buffer | [Buffer, Uint8Array] {
  const length = payload.length;
  const { mask } = options;
  const hlen = headerLength(length, mask !== null);
  if (mask === null && length > COPY_THRESHOLD) {
    const header = Buffer.allocUnsafe(hlen);
    writeHeader(header, 0, opcode, length, options.fin, options.rsv1, null);
    return [header, payload];
  }
  const frame = Buffer.allocUnsafe(hlen + length);
  writeHeader(frame, 0, opcode, length, options.fin, options.rsv1, mask);
  frame.set(payload, hlen);
  if (mask) applyMask(frame, mask, hlen, hlen + length, 0);
  return frame;
}

/** Encodes one frame into a single buffer, whatever its size (used for shared publish frames). */
export function encodeFrameContiguous(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions,
): Buffer {
  const encoded = encodeFrame(opcode, payload, options);
  if (Buffer.isBuffer(encoded)) return encoded;
  return Buffer.concat([encoded[0], encoded[1]]);
}

/**
 * §5.3: masking keys must come from a strong source of entropy and be unpredictable.
 * Drawing 4 bytes from the CSPRNG per frame is slow, so keys are taken from a pool
 * refilled in 8 KiB batches.
 */
const POOL_SIZE = 8192;
let pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

export function randomMask(): Uint8Array {
  if (poolOffset + 4 > POOL_SIZE) {
    pool = Buffer.allocUnsafe(POOL_SIZE);
    randomFillSync(pool);
    poolOffset = 0;
  }
  const mask = pool.subarray(poolOffset, poolOffset + 4);
  poolOffset += 4;
  return mask;
}
