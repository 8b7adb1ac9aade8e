import { COPY_THRESHOLD, headerLength, writeHeader } from './frame-encoder.js';
import { applyMask } from './mask.js';

/**
 * Small frames are encoded straight into a shared, append-only slab rather than into a
 * Buffer each. The frames one connection queues in a row land next to each other, so
 * everything it sends in one turn (the echo of every message of a read, say) leaves as
 * a single slice of the slab: one object and one write, where a Buffer per frame would
 * also need a copy to merge them into one write.
 *
 * Bytes handed out are never written again: a full slab is replaced by a new one, and
 * the old one lives as long as some slice of it is still queued on a socket.
 */

/** Small enough that a slab kept alive by one slow socket's last slice costs little. */
const SLAB_SIZE = 16 * 1024;

/** Frames up to this length go to the slab: a payload the encoder copies anyway, plus the longest header (§5.2). */
export const SLAB_FRAME_LIMIT = COPY_THRESHOLD + 14;

let slab = Buffer.allocUnsafe(0);
let used = 0;

/** Frames of one connection, contiguous in a slab, not yet handed to the transport. */
export class FrameRun {
  constructor(
    readonly slab: Buffer,
    readonly start: number,
    public end: number,
  ) {}

  /** The run's bytes, as a slice of the slab. */
  take(): Buffer {
    return this.slab.subarray(this.start, this.end);
  }
}

/**
 * Encodes one frame (at most `SLAB_FRAME_LIMIT` bytes) into the slab. Returns null when
 * it extended `run` (whose end is where the slab's free space began), else a new run.
 */
export function encodeIntoSlab(
  run: FrameRun | null,
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  rsv1: boolean,
  mask: Uint8Array | null,
): FrameRun | null {
  const length = headerLength(payload.length, mask !== null) + payload.length;
  if (used + length > slab.length) {
    slab = Buffer.allocUnsafe(SLAB_SIZE);
    used = 0;
  }
  const start = used;
  const at = writeHeader(slab, start, opcode, payload.length, fin, rsv1, mask);
  slab.set(payload, at);
  // §5.3: a client masks the payload; the key was just written in front of it.
  if (mask !== null) applyMask(slab, mask, at, at + payload.length, 0);
  used = start + length;
  if (run !== null && run.slab === slab && run.end === start) {
    run.end = used;
    return null;
  }
  return new FrameRun(slab, start, used);
}
