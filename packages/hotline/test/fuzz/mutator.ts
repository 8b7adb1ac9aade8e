/**
 * Byte-level mutations, libFuzzer/AFL "havoc" style: each child is its parent with one
 * to eight stacked edits. All randomness comes from one seeded PRNG, so a run replays.
 */
import { randomInt } from '../support/bytes.js';

export interface MutatorOptions {
  /** Inputs never grow past this many bytes. */
  maxLength: number;
  /** Grammar words to insert or overwrite with (field names, separators, keywords). */
  dictionary: readonly Uint8Array[];
  /** Leading bytes the target reads as options and chunking; they get edits of their own. */
  headerBytes: number;
}

/**
 * Values that sit on the edges of length fields and limits: 125/126/127 and 2^16 are
 * RFC 6455's length encodings, 2^31 and 2^53 the edges of JavaScript integers.
 */
const INTERESTING: readonly bigint[] = [
  0n, 1n, 2n, 0x7dn, 0x7en, 0x7fn, 0x80n, 0xffn, 0x100n, 0x3e8n, 0x3edn, 0x1000n, 0x7fffn, 0x8000n, 0xffffn,
  0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x1fffffffffffffn, 0x20000000000000n,
  0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn,
];

/** The same edges written in decimal, for text formats. */
const DECIMALS: readonly string[] = [
  '0', '1', '8', '9', '15', '16', '00', '01', '08', '125', '126', '1000', '1005', '4999', '5000', '65535',
  '65536', '2147483648', '4294967296', '9007199254740991', '9007199254740992', '99999999999999999', '-1',
  '+1', '1e3', '0x10',
];

const ENCODER = new TextEncoder();

export class Mutator {
  private readonly random: () => number;
  private readonly options: MutatorOptions;
  private readonly decimals = DECIMALS.map((d) => ENCODER.encode(d));

  constructor(random: () => number, options: MutatorOptions) {
    this.random = random;
    this.options = options;
  }

  /** A child of `parent`; `other` is another corpus entry to splice with. */
  mutate(parent: Uint8Array, other: Uint8Array): Buffer {
    let data: Buffer = Buffer.from(parent);
    const edits = 1 << randomInt(this.random, 0, 3);
    for (let i = 0; i < edits; i++) data = this.edit(data, other);
    if (data.length > this.options.maxLength) data = data.subarray(0, this.options.maxLength);
    return data;
  }

  private edit(data: Buffer, other: Uint8Array): Buffer {
    const random = this.random;
    const { headerBytes } = this.options;
    switch (randomInt(random, 0, 12)) {
      case 0: // flip a bit
        if (data.length > 0) data[this.position(data)]! ^= 1 << randomInt(random, 0, 7);
        return data;
      case 1: // a random byte
        if (data.length > 0) data[this.position(data)] = randomInt(random, 0, 255);
        return data;
      case 2: // a small step up or down
        if (data.length > 0) {
          const at = this.position(data);
          data[at] = (data[at]! + randomInt(random, -8, 8)) & 0xff;
        }
        return data;
      case 3: // insert random bytes
        return this.insert(data, this.randomBytes(randomInt(random, 1, 4)));
      case 4: // delete a range
        return this.remove(data);
      case 5: // repeat a range (grows lengths, fragments, header lists)
        return this.duplicate(data);
      case 6: // an interesting integer at a length field, big- or little-endian
        return this.overwrite(data, this.interesting());
      case 7: // splice: this input's head with another's tail
        return this.splice(data, other);
      case 8: // insert a grammar word
      case 9:
        if (this.options.dictionary.length === 0) return this.remove(data);
        return this.insert(data, this.word());
      case 10: // overwrite with a grammar word
        if (this.options.dictionary.length === 0) return this.duplicate(data);
        return this.overwrite(data, this.word());
      case 11: // a decimal edge value, for text formats
        return random() < 0.5 ? this.insert(data, this.pick(this.decimals)) : this.overwrite(data, this.pick(this.decimals));
      default: // the option and chunking bytes: new chunk boundaries, other limits or sides
        if (headerBytes === 0 || data.length < headerBytes) return this.insert(data, this.randomBytes(1));
        data[randomInt(random, 0, headerBytes - 1)] = randomInt(random, 0, 255);
        return data;
    }
  }

  /** A position in the body, past the option bytes most of the time. */
  private position(data: Buffer): number {
    const { headerBytes } = this.options;
    if (data.length > headerBytes && this.random() < 0.9) return randomInt(this.random, headerBytes, data.length - 1);
    return randomInt(this.random, 0, data.length - 1);
  }

  private insert(data: Buffer, bytes: Uint8Array): Buffer {
    // The start of the body is special to many parsers (a BOM, a first line, a first frame).
    const { headerBytes } = this.options;
    const atStart = data.length >= headerBytes && this.random() < 0.1;
    const at = atStart ? headerBytes : data.length === 0 ? 0 : randomInt(this.random, 0, data.length);
    return Buffer.concat([data.subarray(0, at), bytes, data.subarray(at)]);
  }

  private overwrite(data: Buffer, bytes: Uint8Array): Buffer {
    if (data.length < bytes.length) return this.insert(data, bytes);
    const at = randomInt(this.random, 0, data.length - bytes.length);
    data.set(bytes, at);
    return data;
  }

  private remove(data: Buffer): Buffer {
    if (data.length === 0) return data;
    const at = randomInt(this.random, 0, data.length - 1);
    const length = randomInt(this.random, 1, Math.min(data.length - at, 1 << randomInt(this.random, 0, 6)));
    return Buffer.concat([data.subarray(0, at), data.subarray(at + length)]);
  }

  private duplicate(data: Buffer): Buffer {
    if (data.length === 0) return data;
    const at = randomInt(this.random, 0, data.length - 1);
    const length = randomInt(this.random, 1, Math.min(data.length - at, 1 << randomInt(this.random, 0, 8)));
    const times = randomInt(this.random, 1, 4);
    const copies = Array.from({ length: times }, () => data.subarray(at, at + length));
    return this.insert(data, Buffer.concat(copies));
  }

  private splice(data: Buffer, other: Uint8Array): Buffer {
    if (other.length === 0) return data;
    const cut = randomInt(this.random, 0, data.length);
    const from = randomInt(this.random, 0, other.length - 1);
    return Buffer.concat([data.subarray(0, cut), other.subarray(from)]);
  }

  private interesting(): Buffer {
    const value = this.pick(INTERESTING);
    const width = [1, 2, 4, 8][randomInt(this.random, 0, 3)]!;
    const out = Buffer.alloc(width);
    const masked = BigInt.asUintN(width * 8, value);
    if (width === 1) out[0] = Number(masked);
    else if (width === 2) out.writeUInt16BE(Number(masked));
    else if (width === 4) out.writeUInt32BE(Number(masked));
    else out.writeBigUInt64BE(masked);
    if (this.random() < 0.25) out.reverse();
    return out;
  }

  private word(): Uint8Array {
    return this.pick(this.options.dictionary);
  }

  private randomBytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = randomInt(this.random, 0, 255);
    return out;
  }

  private pick<T>(list: readonly T[]): T {
    return list[randomInt(this.random, 0, list.length - 1)]!;
  }
}
