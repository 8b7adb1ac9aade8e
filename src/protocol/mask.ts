/**
 * RFC 6455 §5.3: payload byte i is XORed with mask byte (i + offset) % 4. This runs over
 * every byte a client sends, so the bulk is done 32 bits at a time on an aligned
 * Int32Array view, four words per iteration.
 */

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** XORs `data[start, end)` in place with `mask`, as if the payload began at `offset`. */
export function applyMask(
  data: Uint8Array,
  mask: Uint8Array,
  start = 0,
  end = data.length,
  offset = 0,
): void {
  let i = start;
  let phase = offset & 3;
  // Below ~64 bytes creating the word view costs more than it saves.
  if (end - start >= 64) {
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
    i += words << 2;
  }
  for (; i < end; i++) {
    data[i]! ^= mask[phase]!;
    phase = (phase + 1) & 3;
  }
}
