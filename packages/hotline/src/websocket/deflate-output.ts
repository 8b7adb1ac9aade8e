/**
 * What a raw deflate stream's output needs to become a permessage-deflate payload
 * (RFC 7692 §7.2.1), for the per-connection codec and the shared one alike.
 */
import { invalidState } from '../errors.js';

// RFC 7692 §7.2.1: a sync flush ends with an empty stored block, 00 00 ff ff, which the
// sender removes and (§7.2.2) the receiver appends again before inflating.
export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
// RFC 7692 §7.2.3.6: an empty message compresses to a single 0x00 byte (an empty
// stored block once the receiver appends the trailer).
const EMPTY_MESSAGE = Buffer.from([0x00]);

/**
 * zlib cannot build a 256-byte raw deflate window (deflate.c raises 8 to 9, and zlib >=
 * 1.2.9 refuses -8 outright). We ask for 9 ourselves, and stay within an agreed 8: zlib
 * never emits a match farther back than the window size minus MIN_LOOKAHEAD (262), i.e.
 * 250 bytes for a 512-byte window, so every stream we produce is valid for a peer
 * inflating with 2^8 (RFC 7692 §7.1.2.1). The codec tests check the distances with an
 * independent decoder.
 */
export function deflaterWindowBits(agreed: number): number {
  return agreed === 8 ? 9 : agreed;
}

/** The output chunks of one message as one buffer. */
export function joinChunks(chunks: readonly Buffer[], total: number): Buffer {
  if (chunks.length === 1) {
    // zlib's output chunks are views of a 16 KiB buffer it keeps writing after; a small
    // message handed on as such a view would pin all of it for as long as it is kept.
    const chunk = chunks[0]!;
    return chunk.length * 2 < chunk.buffer.byteLength ? Buffer.from(chunk) : chunk;
  }
  return Buffer.concat(chunks as Buffer[], total);
}

/** A sync-flushed deflate output as a message payload: §7.2.1's trailer removed. */
export function messagePayload(out: Buffer): Buffer | Error {
  // zlib had nothing to flush (an empty message after a previous flush).
  if (out.length === 0) return EMPTY_MESSAGE;
  if (out.length < 4 || out.compare(TRAILER, 0, 4, out.length - 4) !== 0) {
    return invalidState('zlib sync flush did not end with 00 00 ff ff');
  }
  const payload = out.subarray(0, out.length - 4);
  return payload.length === 0 ? EMPTY_MESSAGE : payload;
}

/**
 * Whoever gathers a zlib stream's output for the message in progress: a connection's
 * lane or a shared deflater. Output of a stream it has replaced, or arriving with no
 * message in progress, is dropped.
 */
export interface OutputCollector {
  readonly stream: object | null;
  readonly current: object | null;
  total: number;
  readonly chunks: Buffer[];
  failed(error: Error): void;
}

/** The collector a zlib stream reports to: a property on the stream, not a closure. */
export const kCollector = Symbol('zlib output collector');
export type CollectedStream = object & { [kCollector]: OutputCollector };

// Module-level listeners, shared by every stream: no closures per connection.
export function onDeflateOutput(this: CollectedStream, chunk: Buffer): void {
  const collector = this[kCollector];
  if (collector.stream !== this || collector.current === null) return;
  collector.total += chunk.length;
  collector.chunks.push(chunk);
}

export function onZlibError(this: CollectedStream, error: Error): void {
  const collector = this[kCollector];
  if (collector.stream !== this) return;
  collector.failed(error);
}
