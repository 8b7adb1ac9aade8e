/**
 * The polling body decoder (`decodeBatch`, `src/protocol/session/wire.ts`).
 *
 * Input: byte 0 options (bit 0 allowOpen, bit 1 validateText), then the body.
 *
 * Properties:
 * - it throws nothing but `WireError`, and accepts exactly what a reference reading of
 *   the grammar (written here from the format's description) accepts;
 * - what it accepts encodes back to the same bytes (one spelling per value), and
 *   `packetSize` adds up to the body's length (servers split bodies with it);
 * - long runs: the body's packets repeated to about 1 MiB decode in 50 ms at most and
 *   keep at most 16 heap bytes per body byte (a quadratic step, or an allocation per
 *   few bytes, shows here).
 */
import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { type DecodeOptions, type Packet, WireError, decodeBatch, encodeBatch, packetSize } from '../../../src/protocol/session/wire.js';
import { type Cost, type Target, accepted, bit, expect, expectEqual, heapAfterGc, hexOf, text } from '../target.js';

function decodeOptions(byte: number): DecodeOptions {
  return { allowOpen: bit(byte, 0), validateText: bit(byte, 1) };
}

// ---- The grammar, read straight from wire.ts's header ----------------------------------------

/** A decimal without a sign or leading zero, up to 2^53 - 1, ended by `terminator`. */
function decimal(body: Uint8Array, at: number, terminator: number): [number, number] | null {
  const end = body.indexOf(terminator, at);
  if (end === -1 || end === at) return null;
  const digits = Buffer.from(body.subarray(at, end)).toString('latin1');
  if (!/^(?:0|[1-9][0-9]*)$/.test(digits)) return null;
  const value = Number(digits);
  return Number.isSafeInteger(value) && String(value) === digits ? [value, end] : null;
}

const HANDSHAKE_NUMBERS = ['hold', 'interval', 'heartbeat', 'sessionTimeout', 'maxBody', 'ackDelay'];

function isHandshake(payload: Uint8Array): boolean {
  if (!isUtf8(payload)) return false;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return false;
  }
  if (typeof value !== 'object' || value === null) return false;
  const h = value as Record<string, unknown>;
  if (typeof h['sid'] !== 'string' || typeof h['transport'] !== 'string') return false;
  return HANDSHAKE_NUMBERS.every((key) => typeof h[key] === 'number' && Number.isFinite(h[key]) && (h[key] as number) >= 0);
}

function referenceAccepts(body: Uint8Array, options: DecodeOptions): boolean {
  const first = decimal(body, 0, 0x3b);
  if (first === null) return false;
  let at = first[1] + 1;
  while (at < body.length) {
    const kind = String.fromCharCode(body[at]!);
    if (!'tbc'.includes(kind) && !(kind === 'o' && options.allowOpen)) return false;
    const length = decimal(body, at + 1, 0x3a);
    if (length === null) return false;
    const start = length[1] + 1;
    const payload = body.subarray(start, start + length[0]);
    if (start + length[0] > body.length) return false;
    if (kind === 't' && options.validateText && !isUtf8(payload)) return false;
    if (kind === 'c' && !(isUtf8(payload) && /^[1-4][0-9]{3} /.test(Buffer.from(payload).toString('latin1')))) return false;
    if (kind === 'o' && !isHandshake(payload)) return false;
    at = start + length[0];
  }
  return true;
}

// ---- The target -----------------------------------------------------------------------------------

function normal(packets: readonly Packet[]): unknown[] {
  return packets.map((p) => (p.kind === 't' || p.kind === 'b' ? { kind: p.kind, data: hexOf(p.data) } : p));
}

function run(input: Buffer): void {
  const options = decodeOptions(input[0] ?? 0);
  const body = input.subarray(1);
  const batch = accepted(() => decodeBatch(body, options), WireError, 'decodeBatch throws only WireError');
  expectEqual(batch !== undefined, referenceAccepts(body, options), 'decodeBatch accepts exactly the grammar');
  if (batch === undefined) return;
  const { firstSeq, packets } = batch;
  if (options.validateText) {
    for (const p of packets) if (p.kind === 't') expect(isUtf8(p.data), 'validated text is UTF-8');
  }
  const encoded = encodeBatch(firstSeq, packets);
  if (packets.every((p) => p.kind !== 'o')) {
    expectEqual(hexOf(encoded), hexOf(body), 'encode(decode(body)) is the body');
    let size = String(firstSeq).length + 1;
    for (const p of packets) size += packetSize(p.kind, p.kind === 'c' ? encodedLength(p) : (p as { data: Uint8Array }).data.length);
    expectEqual(size, body.length, 'packetSize adds up to the body length');
  } else {
    // A handshake is JSON: many spellings, one meaning.
    const again = decodeBatch(encoded, options);
    expectEqual({ firstSeq: again.firstSeq, packets: normal(again.packets) }, { firstSeq, packets: normal(packets) }, 'decode(encode(batch)) is the batch');
  }
}

function encodedLength(packet: { code: number; reason: string }): number {
  return Buffer.byteLength(`${packet.code} ${packet.reason}`);
}

/** The packets after `seq;`, repeated until the body is about 1 MiB; the best of three runs. */
function measure(input: Buffer): Cost | null {
  const options = decodeOptions(input[0] ?? 0);
  const body = input.subarray(1);
  const semicolon = body.indexOf(0x3b);
  const packets = body.subarray(semicolon + 1);
  if (semicolon === -1 || packets.length === 0) return null;
  const copies = Math.ceil((1 << 20) / packets.length);
  const big = Buffer.concat([body.subarray(0, semicolon + 1), ...Array.from({ length: copies }, () => packets)]);
  let best = Infinity;
  let heap = 0;
  for (let i = 0; i < 3; i++) {
    const before = heapAfterGc();
    const started = performance.now();
    let batch: unknown = null;
    try {
      batch = decodeBatch(big, options);
    } catch {
      // Refusing must be as quick as accepting.
    }
    best = Math.min(best, performance.now() - started);
    // What the decoded batch keeps alive, measured while it is still held.
    if (i === 0) heap = Math.max(0, heapAfterGc() - before);
    if (batch === heap) break; // keeps `batch` alive until here
  }
  return { ms: best, heapPerByte: heap / big.length, bytes: big.length };
}

const HANDSHAKE = JSON.stringify({ sid: 'abc', transport: 'polling', hold: 25000, interval: 1000, heartbeat: 15000, sessionTimeout: 60000, maxBody: 1048576, ackDelay: 100 });
const seed = (options: number, body: string): Buffer => Buffer.concat([Buffer.from([options]), text(body)]);

export const pollingBody: Target = {
  name: 'polling-body',
  about: 'decodeBatch: only WireError, the grammar exactly, one spelling per value, linear time',
  headerBytes: 1,
  maxLength: 2048,
  seeds: () => [
    seed(2, '0;t5:hellob3:\x00\x01\x02c8:1000 bye'),
    seed(2, '17;t0:t4:\xf0\x9f\x98\x80'),
    seed(1, `3;o${HANDSHAKE.length}:${HANDSHAKE}t1:x`),
    seed(0, '9007199254740991;b0:'),
    seed(0, '0;'),
  ],
  dictionary: ['t', 'b', 'c', 'o', ';', ':', '0;', 't0:', 'b1:', 'c4:1000', ' ', '{"sid":"', '","transport":"', '"hold":0', text('\xc3\xa9'), text('\xed\xa0\x80')],
  run,
  // 50 ms per MiB: the bound the format was designed to; 16 heap bytes per body byte:
  // a decoded body should cost a small multiple of itself, not an object per few bytes.
  cost: { maxMs: 50, maxHeapPerByte: 16, measure },
};
