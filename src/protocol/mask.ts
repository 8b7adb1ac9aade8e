/**
 * RFC 6455 §5.3: payload byte i is XORed with mask byte (i + offset) % 4. The work is done
 * in 32-bit words where the data allows, since this runs over every byte a client sends.
 */

/** XORs `data[start, end)` in place with `mask`, as if the payload began at `offset`. */
export function applyMask(
  data: Uint8Array,
  mask: Uint8Array,
  start = 0,
  end = data.length,
  offset = 0,
): void {
  let i = start;
  const m0 = mask[offset & 3]!;
  const m1 = mask[(offset + 1) & 3]!;
  const m2 = mask[(offset + 2) & 3]!;
  const m3 = mask[(offset + 3) & 3]!;
  const length = end - start;
  // Word-at-a-time needs a 4-byte-aligned start inside the underlying ArrayBuffer.
  if (length >= 32) {
    const misalign = (data.byteOffset + i) & 3;
    if (misalign !== 0) {
      // Walk byte by byte up to the alignment boundary, keeping the mask phase.
      const head = 4 - misalign;
      const masks = [m0, m1, m2, m3];
      for (let k = 0; k < head; k++, i++) data[i]! ^= masks[k]!;
      applyAligned(data, i, end, masks[head & 3]!, masks[(head + 1) & 3]!, masks[(head + 2) & 3]!, masks[(head + 3) & 3]!);
      return;
    }
  }
  applyAligned(data, i, end, m0, m1, m2, m3);
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function applyAligned(
  data: Uint8Array,
  start: number,
  end: number,
  m0: number,
  m1: number,
  m2: number,
  m3: number,
): void {
  let i = start;
  const words = (end - start) >>> 2;
  if (words >= 8 && ((data.byteOffset + i) & 3) === 0) {
    const word = littleEndian
      ? (m0 | (m1 << 8) | (m2 << 16) | (m3 << 24)) >>> 0
      : ((m0 << 24) | (m1 << 16) | (m2 << 8) | m3) >>> 0;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i + 3 < end; i += 4) {
    data[i]! ^= m0;
    data[i + 1]! ^= m1;
    data[i + 2]! ^= m2;
    data[i + 3]! ^= m3;
  }
  if (i < end) data[i++]! ^= m0;
  if (i < end) data[i++]! ^= m1;
  if (i < end) data[i]! ^= m2;
}
