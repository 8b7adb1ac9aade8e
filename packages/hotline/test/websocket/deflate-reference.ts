/**
 * A small, slow, independent DEFLATE decoder (RFC 1951) for tests: it decodes raw
 * deflate data and records the largest match distance it meets, which zlib's inflate
 * does not report. Written from RFC 1951 §3.2, not from zlib, so that tests do not
 * check zlib against itself.
 *
 * `feed` takes one permessage-deflate message with its 00 00 ff ff trailer appended and
 * keeps the history across calls, as context takeover does.
 */

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
// RFC 1951 §3.2.7: the order code length code lengths are sent in.
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code (RFC 1951 §3.2.2) as counts per length and sorted symbols. */
interface Huffman {
  counts: number[];
  symbols: number[];
}

function huffman(lengths: readonly number[]): Huffman {
  const counts = new Array<number>(16).fill(0);
  for (const len of lengths) counts[len]!++;
  counts[0] = 0;
  const offsets = new Array<number>(16).fill(0);
  for (let len = 1; len < 16; len++) offsets[len] = offsets[len - 1]! + counts[len - 1]!;
  const symbols = new Array<number>(lengths.length).fill(0);
  lengths.forEach((len, symbol) => {
    if (len !== 0) symbols[offsets[len]!++] = symbol;
  });
  return { counts, symbols };
}

const FIXED_LITLEN = huffman([
  ...new Array<number>(144).fill(8),
  ...new Array<number>(112).fill(9),
  ...new Array<number>(24).fill(7),
  ...new Array<number>(8).fill(8),
]);
const FIXED_DIST = huffman(new Array<number>(30).fill(5));

export class DeflateReference {
  /** Everything decoded so far, across messages. */
  history: number[] = [];
  /** The largest match distance seen. */
  maxDistance = 0;
  private data: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private bitBuf = 0;
  private bitCount = 0;
  private ended = false;

  private bits(n: number): number {
    let value = this.bitBuf;
    while (this.bitCount < n) {
      if (this.pos >= this.data.length) throw new Error('out of input');
      value |= this.data[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    this.bitBuf = value >>> n;
    this.bitCount -= n;
    return value & ((1 << n) - 1);
  }

  private decode(h: Huffman): number {
    // RFC 1951 §3.1.1: Huffman codes are packed starting with the most significant bit.
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.counts[len]!;
      if (code - first < count) return h.symbols[index + code - first]!;
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    throw new Error('invalid Huffman code');
  }

  /** Decodes one message (trailer included); returns its output. */
  feed(message: Uint8Array): Buffer {
    if (this.ended) throw new Error('stream already ended with BFINAL');
    this.data = message;
    this.pos = 0;
    this.bitBuf = 0;
    this.bitCount = 0;
    const start = this.history.length;
    // Blocks until the input is used up; a sync flush leaves us byte-aligned at the end.
    while (this.pos < this.data.length) {
      const final = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.codes(FIXED_LITLEN, FIXED_DIST);
      else if (type === 2) this.dynamic();
      else throw new Error('invalid block type 3');
      if (final) {
        this.ended = true;
        break;
      }
    }
    return Buffer.from(this.history.slice(start));
  }

  private stored(): void {
    this.bitBuf = 0;
    this.bitCount = 0; // skip to a byte boundary
    if (this.pos + 4 > this.data.length) throw new Error('out of input');
    const len = this.data[this.pos]! | (this.data[this.pos + 1]! << 8);
    const nlen = this.data[this.pos + 2]! | (this.data[this.pos + 3]! << 8);
    if ((len ^ 0xffff) !== nlen) throw new Error('stored block length check failed');
    this.pos += 4;
    if (this.pos + len > this.data.length) throw new Error('out of input');
    for (let i = 0; i < len; i++) this.history.push(this.data[this.pos++]!);
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    const clen = new Array<number>(19).fill(0);
    for (let i = 0; i < ncode; i++) clen[CLEN_ORDER[i]!] = this.bits(3);
    const lencode = huffman(clen);
    const lengths: number[] = [];
    while (lengths.length < nlen + ndist) {
      const symbol = this.decode(lencode);
      if (symbol < 16) {
        lengths.push(symbol);
      } else if (symbol === 16) {
        if (lengths.length === 0) throw new Error('repeat with no previous length');
        const prev = lengths[lengths.length - 1]!;
        for (let n = 3 + this.bits(2); n > 0; n--) lengths.push(prev);
      } else if (symbol === 17) {
        for (let n = 3 + this.bits(3); n > 0; n--) lengths.push(0);
      } else {
        for (let n = 11 + this.bits(7); n > 0; n--) lengths.push(0);
      }
    }
    if (lengths.length > nlen + ndist) throw new Error('too many code lengths');
    this.codes(huffman(lengths.slice(0, nlen)), huffman(lengths.slice(nlen)));
  }

  private codes(litlen: Huffman, dist: Huffman): void {
    for (;;) {
      const symbol = this.decode(litlen);
      if (symbol < 256) {
        this.history.push(symbol);
      } else if (symbol === 256) {
        return;
      } else {
        const li = symbol - 257;
        if (li >= 29) throw new Error('invalid length symbol');
        const length = LENGTH_BASE[li]! + this.bits(LENGTH_EXTRA[li]!);
        const di = this.decode(dist);
        if (di >= 30) throw new Error('invalid distance symbol');
        const distance = DIST_BASE[di]! + this.bits(DIST_EXTRA[di]!);
        if (distance > this.history.length) throw new Error('distance too far back');
        if (distance > this.maxDistance) this.maxDistance = distance;
        for (let i = 0; i < length; i++) this.history.push(this.history[this.history.length - distance]!);
      }
    }
  }
}
