/**
 * What a fuzz target is, and the helpers targets share. A target turns bytes into calls
 * of one parser and checks properties of the result; a property that does not hold
 * throws a `PropertyError` (anything else thrown is a failure too: the parsers must
 * never throw anything but their documented errors).
 *
 * Adding a target: a file in `targets/` exporting a `Target`, listed in `targets/index.ts`.
 * A whole one, for the close packet of the polling bodies:
 *
 *   import { WireError, closePayload, decodeClose } from '../../../src/protocol/session/wire.js';
 *   import { type Target, accepted, expectEqual, hexOf, text } from '../target.js';
 *
 *   export const closeCodec: Target = {
 *     name: 'close-codec',
 *     about: 'decodeClose: only WireError; what it accepts re-encodes to the same bytes',
 *     seeds: () => [text('1000 bye')],
 *     run(input) {
 *       const packet = accepted(() => decodeClose(input), WireError, 'decodeClose throws only WireError');
 *       if (packet !== undefined) expectEqual(hexOf(closePayload(packet.code, packet.reason)), hexOf(input), 'one spelling');
 *     },
 *   };
 *
 * (`targets/upgrade-messages.ts`, for the session-upgrade messages, is another.)
 */
import { isDeepStrictEqual } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bytewise, prng, randomSplit, splitAt } from '../support/bytes.js';

export interface Target {
  /** Also the corpus directory: `test/fuzz/corpus/<name>/`. */
  readonly name: string;
  /** The properties checked, in one line. */
  readonly about: string;
  /** Starting inputs, used with the corpus (the corpus may be empty). */
  seeds(): Uint8Array[];
  /** Grammar words the mutator inserts. */
  readonly dictionary?: readonly (string | Uint8Array)[];
  /** Leading bytes read as options (side, limits, chunking seed); mutated apart. Default 0. */
  readonly headerBytes?: number;
  /** Largest input the mutator makes. Default 4096. */
  readonly maxLength?: number;
  /** Checks one input. May be async (zlib): the fuzzer waits for it. */
  run(input: Buffer): void | Promise<void>;
  /**
   * Long runs only: what the input costs once amplified to about 1 MiB (time, and heap
   * kept per input byte), or null when it does not apply. Inputs over either bound are
   * reported as costly, not failed: timings on a shared machine are too noisy to fail on.
   */
  readonly cost?: {
    readonly maxMs: number;
    readonly maxHeapPerByte: number;
    measure(input: Buffer): Cost | null;
  };
}

export interface Cost {
  /** Best of a few runs. */
  readonly ms: number;
  /** Heap growth while the result is held, per byte of the amplified input. */
  readonly heapPerByte: number;
  /** The amplified input's size. */
  readonly bytes: number;
}

/** A property that did not hold. `property` names it; it is what failures are grouped by. */
export class PropertyError extends Error {
  readonly property: string;

  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.property = property;
  }

  override get name(): string {
    return 'PropertyError';
  }
}

export function expect(condition: boolean, property: string, detail: () => string = () => 'does not hold'): void {
  if (!condition) throw new PropertyError(property, detail());
}

export function expectEqual(actual: unknown, expected: unknown, property: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new PropertyError(property, `got ${show(actual)}, expected ${show(expected)}`);
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  return text === undefined ? String(value) : text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/**
 * Runs `parse`; returns its result, or undefined when it threw an error of the expected
 * class that `check` approves. Any other error is a failure of the target.
 */
export function accepted<T, E extends Error>(
  parse: () => T,
  expected: abstract new (...args: never[]) => E,
  property: string,
  check: (error: E) => boolean = () => true,
): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (error instanceof PropertyError) throw error;
    if (error instanceof expected && check(error)) return undefined;
    throw new PropertyError(property, `threw ${describe(error)}`);
  }
}

export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code === undefined ? '' : ` ${String(code)}`}: ${error.message}`;
}

/** One way to cut an input into the chunks a socket might deliver. */
export interface Chunking {
  readonly name: string;
  readonly chunks: Buffer[];
}

/**
 * The chunkings a target compares: whole, one byte at a time (the first 512 bytes when
 * longer), and a random split drawn from `seed` (a byte of the input, so the fuzzer
 * moves the boundaries by mutating it). Fresh copies: parsers may unmask in place.
 */
export function chunkings(data: Uint8Array, seed: number): Chunking[] {
  const out: Chunking[] = [{ name: 'whole', chunks: [Buffer.from(data)] }];
  if (data.length <= 1) return out;
  if (data.length <= 512) {
    out.push({ name: 'byte by byte', chunks: bytewise(data) });
  } else {
    out.push({ name: 'first 512 bytes one by one', chunks: [...bytewise(data.subarray(0, 512)), Buffer.from(data.subarray(512))] });
  }
  out.push({ name: `random split ${seed}`, chunks: randomSplit(data, prng(seed + 1), 24) });
  // A cut every few bytes puts boundaries inside CRLFs, UTF-8 sequences and headers
  // alike; in long inputs every few KiB, or the cost would be in the calls alone.
  const every = data.length > 4096 ? 4093 + seed : 2 + (seed % 5);
  out.push({ name: `every ${every} bytes`, chunks: splitAt(data, ...Array.from({ length: Math.ceil(data.length / every) }, (_, i) => i * every)) });
  return out;
}

let gc: (() => void) | null = null;

/** Heap in use after a full collection: what is still referenced (long runs only, it is slow). */
export function heapAfterGc(): number {
  if (gc === null) {
    // The process was not started with --expose-gc: expose it now, in a context of its own.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  return process.memoryUsage().heapUsed;
}

export function hexOf(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

const ENCODER = new TextEncoder();

/** A seed or dictionary word from text, bytes as written (latin1 for \xNN escapes). */
export function text(value: string): Buffer {
  return Buffer.from(value, 'latin1');
}

export function utf8(value: string): Uint8Array {
  return ENCODER.encode(value);
}

/** Option bits from a header byte, for readable targets: `bit(input[0], 2)`. */
export function bit(byte: number | undefined, index: number): boolean {
  return (((byte ?? 0) >> index) & 1) === 1;
}
