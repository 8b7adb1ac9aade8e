/**
 * The frame parser through `Protocol` (RFC 6455 §5), both sides, with and without RSV1
 * (permessage-deflate negotiated), and the real inflater on what arrives compressed.
 *
 * Input: byte 0 options, byte 1 chunking seed, then the bytes a peer sent.
 *   bit 0  side: 0 server (expects masked frames), 1 client (expects unmasked)
 *   bit 1  allowRsv1, and compressed messages are inflated by `PerMessageDeflate`
 *   bit 2  maxPayload 256 instead of the default
 *   bit 3  maxFragments 8 instead of the default
 *   bit 4  the peer compresses without context takeover
 *   bits 5-6  the peer's window: 8, 9, 12 or 15 bits
 *   bit 7  with the chunking seed a multiple of 4: 64 KiB of zeros follow the input, so
 *          that frames announced past the 64 KiB assembly threshold arrive whole
 *
 * Properties:
 * - only documented events; at most one close or error, and nothing after it;
 * - a failure is a `ProtocolError` whose close code fits its error code: 1002, or 1007
 *   for bad UTF-8, or 1009 for a limit (never 1010 or 1011, which no input may cause);
 * - the same bytes cut into any chunks give the same events and the same bytes out;
 * - the answers are right: a Pong per Ping (same payload) before any Close, one Close
 *   echoing the peer's code or carrying the failure's, masked exactly on the client side;
 * - whatever was received, sent again by a peer's `Protocol`, parses back the same;
 * - inflation fails only with 1007 or 1009, never exceeds maxPayload, gives the same
 *   result from one buffer or from fragments, and round-trips through the peer's deflater.
 */
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import { CloseCode, ProtocolError } from '../../../src/errors.js';
import { isValidCloseCode } from '../../../src/protocol/close-code.js';
import { DEFAULT_MAX_PAYLOAD } from '../../../src/protocol/limits.js';
import { Opcode } from '../../../src/protocol/opcode.js';
import type { DeflateParams } from '../../../src/protocol/permessage-deflate.js';
import { Protocol, type ProtocolEvent, truncateReason } from '../../../src/protocol/protocol.js';
import { Side } from '../../../src/protocol/side.js';
import { PerMessageDeflate } from '../../../src/websocket/permessage-deflate.js';
import { ZlibLimiter } from '../../../src/websocket/zlib-limiter.js';
import { decodeFrames, frame, joinChunks, prng, randomSplit } from '../../support/bytes.js';
import { type Target, bit, chunkings, describe, expect, expectEqual, hexOf, text } from '../target.js';

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const SMALL_PAYLOAD = 256;
const SMALL_FRAGMENTS = 8;
const WINDOWS = [8, 9, 12, 15] as const;
/** The frame parser assembles frames of 64 KiB and more as they arrive (ASSEMBLY_THRESHOLD). */
const PADDING = Buffer.alloc(64 * 1024 + 64);

/** One input in eight at most, as the padding makes a run about ten times slower. */
function padded(input: Buffer): boolean {
  return bit(input[0], 7) && ((input[1] ?? 1) & 3) === 0;
}

/** Which close code each frame error may carry (RFC 6455 §7.4.1). */
const CLOSE_CODE_OF: Readonly<Record<string, number>> = {
  HL_ERR_INVALID_OPCODE: 1002,
  HL_ERR_RESERVED_BITS: 1002,
  HL_ERR_UNMASKED_FRAME: 1002,
  HL_ERR_MASKED_FRAME: 1002,
  HL_ERR_CONTROL_FRAGMENTED: 1002,
  HL_ERR_CONTROL_TOO_LONG: 1002,
  HL_ERR_UNEXPECTED_CONTINUATION: 1002,
  HL_ERR_EXPECTED_CONTINUATION: 1002,
  HL_ERR_INVALID_LENGTH: 1002,
  HL_ERR_INVALID_CLOSE_CODE: 1002,
  HL_ERR_INVALID_CLOSE_PAYLOAD: 1002,
  HL_ERR_INVALID_UTF8: 1007,
  HL_ERR_MESSAGE_TOO_BIG: 1009,
  HL_ERR_TOO_MANY_FRAGMENTS: 1009,
};

interface Config {
  side: Side;
  allowRsv1: boolean;
  maxPayload: number;
  maxFragments: number | undefined;
  params: DeflateParams;
}

function config(options: number): Config {
  const side = bit(options, 0) ? Side.CLIENT : Side.SERVER;
  const window = WINDOWS[(options >> 5) & 3]!;
  const noContextTakeover = bit(options, 4);
  // The peer's direction gets the fuzzed parameters; ours keeps the defaults.
  const peerIsClient = side === Side.SERVER;
  return {
    side,
    allowRsv1: bit(options, 1),
    maxPayload: bit(options, 2) ? SMALL_PAYLOAD : DEFAULT_MAX_PAYLOAD,
    maxFragments: bit(options, 3) ? SMALL_FRAGMENTS : undefined,
    params: {
      serverNoContextTakeover: peerIsClient ? false : noContextTakeover,
      clientNoContextTakeover: peerIsClient ? noContextTakeover : false,
      serverMaxWindowBits: peerIsClient ? 15 : window,
      clientMaxWindowBits: peerIsClient ? window : 15,
    },
  };
}

function other(side: Side): Side {
  return side === Side.SERVER ? Side.CLIENT : Side.SERVER;
}

type Seen =
  | { type: 'message'; data: string; binary: boolean; compressed: boolean }
  | { type: 'ping' | 'pong'; data: string }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; code: string; closeCode: number };

interface Reading {
  seen: Seen[];
  events: ProtocolEvent[];
  sent: Buffer;
}

function newProtocol(cfg: Config, side = cfg.side): Protocol {
  return new Protocol({
    side,
    allowRsv1: cfg.allowRsv1,
    maxPayload: cfg.maxPayload,
    ...(cfg.maxFragments !== undefined && { maxFragments: cfg.maxFragments }),
    maskGenerator: () => MASK,
  });
}

function read(cfg: Config, chunks: readonly Buffer[]): Reading {
  const protocol = newProtocol(cfg);
  const events: ProtocolEvent[] = [];
  for (const chunk of chunks) {
    protocol.receiveData(chunk);
    const received = protocol.eventsReceived();
    events.push(...received);
    // As the shell does: the connection is failed when its error event is reached, after
    // the events before it (whose answers would leave first).
    for (const event of received) if (event.type === 'error') protocol.fail(event.error);
  }
  return { seen: events.map(seenOf), events, sent: joinChunks(protocol.dataToSend() as Uint8Array[]) };
}

function seenOf(event: ProtocolEvent): Seen {
  switch (event.type) {
    case 'message':
      return { type: 'message', data: hexOf(event.data), binary: event.binary, compressed: event.compressed };
    case 'ping':
    case 'pong':
      return { type: event.type, data: hexOf(event.data) };
    case 'close':
      return { type: 'close', code: event.code, reason: event.reason };
    case 'error':
      return { type: 'error', code: event.error.code, closeCode: event.error.closeCode };
    default:
      return event;
  }
}

function checkEvents(cfg: Config, events: readonly ProtocolEvent[]): void {
  events.forEach((event, index) => {
    const last = index === events.length - 1;
    switch (event.type) {
      case 'message':
        expect(event.data.length <= cfg.maxPayload, 'messages fit maxPayload');
        expect(!event.compressed || cfg.allowRsv1, 'compressed only when negotiated');
        if (!event.binary && !event.compressed) expect(isUtf8(event.data), 'text is UTF-8');
        break;
      case 'ping':
      case 'pong':
        expect(event.data.length <= 125, 'control payloads are at most 125 bytes');
        break;
      case 'close':
        expect(last, 'nothing after a close');
        expect(event.code === CloseCode.NO_STATUS || isValidCloseCode(event.code), 'close codes are valid');
        break;
      case 'error': {
        expect(last, 'nothing after a failure');
        const { error } = event;
        expect(error instanceof ProtocolError, 'failures are ProtocolErrors', () => describe(error));
        expect(CLOSE_CODE_OF[error.code] === error.closeCode, 'close code fits the error', () => `${error.code} ${error.closeCode}`);
        break;
      }
      default:
        expect(false, 'only documented events', () => JSON.stringify(event));
    }
  });
}

/** Pongs for pings until a Close goes out, then one Close; masked on the client side only. */
function checkAnswers(cfg: Config, reading: Reading): void {
  const expected: Array<{ opcode: number; payload: string }> = [];
  for (const event of reading.events) {
    if (event.type === 'ping') expected.push({ opcode: Opcode.PONG, payload: hexOf(event.data) });
    if (event.type === 'close') {
      const payload = event.code === CloseCode.NO_STATUS ? '' : Buffer.from([event.code >> 8, event.code & 0xff]).toString('hex');
      expected.push({ opcode: Opcode.CLOSE, payload });
    }
    if (event.type === 'error') {
      const { closeCode } = event.error;
      const reason = closeCode === CloseCode.INTERNAL_ERROR ? '' : truncateReason(event.error.message);
      const payload = Buffer.concat([Buffer.from([closeCode >> 8, closeCode & 0xff]), Buffer.from(reason)]);
      expected.push({ opcode: Opcode.CLOSE, payload: hexOf(payload) });
    }
  }
  const frames = decodeFrames(reading.sent);
  expectEqual(frames.map((f) => ({ opcode: f.opcode, payload: hexOf(f.payload) })), expected, 'answers');
  for (const f of frames) expect((f.mask !== null) === (cfg.side === Side.CLIENT), 'answers are masked by a client only');
}

/** Sends what was received from a peer's Protocol again, and parses it back. */
function checkResend(cfg: Config, reading: Reading, seed: number): void {
  const sender = newProtocol(cfg, other(cfg.side));
  const random = prng(seed);
  const expected: Seen[] = [];
  for (const event of reading.events) {
    if (event.type === 'error') break;
    expected.push(seenOf(event));
    if (event.type === 'message') {
      // Fragmented half of the time, cut where the seed says (§5.4).
      if (random() < 0.5 || event.data.length < 2) {
        sender.sendMessage(event.data, event.binary, event.compressed);
      } else {
        const cut = 1 + Math.floor(random() * (event.data.length - 1));
        sender.sendFragment(event.data.subarray(0, cut), event.binary, false, event.compressed);
        sender.sendFragment(event.data.subarray(cut), event.binary, true, event.compressed);
      }
    } else if (event.type === 'ping') sender.sendPing(event.data);
    else if (event.type === 'pong') sender.sendPong(event.data);
    else if (event.type === 'close') sender.sendClose(event.code, event.reason);
  }
  const wire = joinChunks(sender.dataToSend() as Uint8Array[]);
  expectEqual(read(cfg, randomSplit(wire, random, 8)).seen, expected, 'what was received, sent again, reads back the same');
}

// ---- Inflation ---------------------------------------------------------------------------

/** One limiter for the target: its jobs must not wait behind anyone else's. */
const limiter = new ZlibLimiter();

type Inflated = { data: string } | { code: string; closeCode: number };

function decompress(codec: PerMessageDeflate, data: Buffer | Buffer[]): Promise<Inflated> {
  return new Promise((resolve, reject) => {
    codec.decompress(data, (error, result) => {
      if (error === null) resolve({ data: hexOf(result!) });
      else if (error instanceof ProtocolError) resolve({ code: error.code, closeCode: error.closeCode });
      else reject(error);
    });
  });
}

function compress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    codec.compress(data, (error, result) => (error === null ? resolve(result!) : reject(error)));
  });
}

async function checkInflation(cfg: Config, events: readonly ProtocolEvent[], seed: number): Promise<void> {
  const messages = events.flatMap((e) => (e.type === 'message' && e.compressed ? [e.data] : []));
  if (messages.length === 0) return;
  const options = { maxPayload: cfg.maxPayload, limiter, threshold: 0 };
  const whole = new PerMessageDeflate(cfg.params, cfg.side, options);
  const pieces = new PerMessageDeflate(cfg.params, cfg.side, options);
  const peer = new PerMessageDeflate(cfg.params, other(cfg.side), options);
  const echo = new PerMessageDeflate(cfg.params, cfg.side, options);
  const random = prng(seed);
  try {
    for (const message of messages) {
      const result = await decompress(whole, message);
      if ('code' in result) {
        const fits =
          (result.code === 'HL_ERR_INVALID_COMPRESSED_DATA' && result.closeCode === 1007) ||
          (result.code === 'HL_ERR_MESSAGE_TOO_BIG' && result.closeCode === 1009);
        expect(fits, 'inflation fails with 1007 or 1009 only', () => `${result.code} ${result.closeCode}`);
      } else {
        expect(result.data.length / 2 <= cfg.maxPayload, 'inflated messages fit maxPayload');
      }
      const split = await decompress(pieces, randomSplit(message, random, 6));
      // A message both over maxPayload and corrupt fails either way: zlib reports its
      // error for the write it is in and drops that write's output, so the limit is
      // seen first only when the corrupt byte comes in a later write. (The shell always
      // hands over one buffer, so on the wire the answer does not depend on chunking.)
      const eitherFailure = 'code' in split && 'code' in result && [split.closeCode, result.closeCode].sort().join() === '1007,1009';
      if (!eitherFailure) expectEqual(split, result, 'inflating fragments gives what inflating the whole gives');
      // The shell fails the connection on the first bad message: nothing more is inflated.
      if ('code' in result) return;
      const again = await decompress(echo, await compress(peer, Buffer.from(result.data, 'hex')));
      expectEqual(again, result, "the peer's deflater round-trips what was inflated");
    }
  } finally {
    for (const codec of [whole, pieces, peer, echo]) codec.close();
  }
}

// ---- The target ---------------------------------------------------------------------------

async function run(input: Buffer): Promise<void> {
  const cfg = config(input[0] ?? 0);
  const seed = input[1] ?? 0;
  const wire = padded(input) ? Buffer.concat([input.subarray(2), PADDING]) : input.subarray(2);
  let first: Reading | null = null;
  for (const { name, chunks } of chunkings(wire, seed)) {
    let reading: Reading;
    try {
      reading = read(cfg, chunks);
    } catch (error) {
      expect(false, 'receiveData never throws', () => `${name}: ${describe(error)}`);
      return;
    }
    if (first === null) {
      first = reading;
      checkEvents(cfg, reading.events);
      checkAnswers(cfg, reading);
      continue;
    }
    expectEqual(reading.seen, first.seen, `chunking invariance (${name}): events`);
    expectEqual(hexOf(reading.sent), hexOf(first.sent), `chunking invariance (${name}): bytes sent`);
  }
  if (first === null) return;
  checkResend(cfg, first, seed);
  if (cfg.allowRsv1) await checkInflation(cfg, first.events, seed);
}

function options(side: Side, rsv1 = false, extra = 0): number {
  return (side === Side.CLIENT ? 1 : 0) | (rsv1 ? 2 : 0) | extra;
}

function seeds(): Uint8Array[] {
  const out: Buffer[] = [];
  const deflated = (data: string): Buffer => {
    const raw = zlib.deflateRawSync(Buffer.from(data), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return raw.subarray(0, raw.length - 4);
  };
  for (const side of [Side.SERVER, Side.CLIENT]) {
    // Frames as the peer of `side` sends them: masked when the receiver is a server.
    const mask = side === Side.SERVER ? MASK : null;
    const f = (spec: Parameters<typeof frame>[0]): Buffer => frame({ ...spec, mask });
    const traffic = (opts: number, ...frames: Buffer[]): Buffer => Buffer.concat([Buffer.from([opts, 7]), ...frames]);
    out.push(
      traffic(options(side), f({ opcode: Opcode.TEXT, payload: 'Hello' })),
      traffic(options(side), f({ opcode: Opcode.BINARY, payload: Buffer.alloc(200, 0xab) })),
      traffic(
        options(side, false, 8),
        f({ opcode: Opcode.TEXT, payload: 'fragm', fin: false }),
        f({ opcode: Opcode.PING, payload: 'p' }),
        f({ opcode: Opcode.CONTINUATION, payload: 'é€', fin: false }),
        f({ opcode: Opcode.CONTINUATION, payload: '𝄞', fin: true }),
      ),
      traffic(options(side), f({ opcode: Opcode.PONG, payload: 'x' }), f({ opcode: Opcode.CLOSE, payload: Buffer.from('03e8627965', 'hex') })),
      // The edges of §5.5: control payloads of 0 and 125 bytes, a reason of 123.
      traffic(
        options(side),
        f({ opcode: Opcode.PING }),
        f({ opcode: Opcode.PING, payload: Buffer.alloc(125, 0x70) }),
        f({ opcode: Opcode.PONG, payload: Buffer.alloc(125, 0x71) }),
        f({ opcode: Opcode.CLOSE, payload: Buffer.concat([Buffer.from('0fa0', 'hex'), Buffer.alloc(123, 0x72)]) }),
      ),
      traffic(options(side, false, 4), f({ opcode: Opcode.BINARY, payload: 'x', length: 70_000, lengthForm: 64 })),
      // Completed by the padding: a binary frame, and text whose zeros are valid UTF-8.
      Buffer.concat([Buffer.from([options(side, false, 0x80), 8]), f({ opcode: Opcode.BINARY, length: 65_536, lengthForm: 64 }).subarray(0, 10)]),
      Buffer.concat([
        Buffer.from([options(side, false, 0x80), 4]),
        frame({ opcode: Opcode.TEXT, length: 65_540, lengthForm: 64, fin: false, mask: side === Side.SERVER ? Buffer.alloc(4) : null }).subarray(0, side === Side.SERVER ? 14 : 10),
      ]),
      traffic(options(side, true), f({ opcode: Opcode.TEXT, rsv1: true, payload: deflated('Hello Hello Hello') })),
      traffic(
        options(side, true, 0x10 | 0x20),
        f({ opcode: Opcode.TEXT, rsv1: true, payload: deflated('{"a":1}'.repeat(20)), fin: false }),
        f({ opcode: Opcode.CONTINUATION, payload: deflated('') }),
        f({ opcode: Opcode.BINARY, rsv1: true, payload: Buffer.from([0x00]) }),
      ),
    );
  }
  return out;
}

export const frames: Target = {
  name: 'frames',
  about: 'Protocol (frame parser) both sides, with RSV1 and the inflater: events, failures, chunking, answers, re-encoding',
  headerBytes: 2,
  maxLength: 2048,
  seeds,
  dictionary: [
    text('\x81'), text('\x82'), text('\x80'), text('\x01'), text('\x00'), text('\x88'), text('\x89'), text('\x8a'),
    text('\xc1'), text('\xc2'), text('\x41'), text('\x7e'), text('\x7f'), text('\xfe'), text('\xff'),
    text('\x03\xe8'), text('\x03\xed'), text('\x0f\xa0'), text('\x00\x00\x00\x00'),
    text('\xc0\x80'), text('\xed\xa0\x80'), text('\xf4\x90\x80\x80'), text('\xe2\x82'), text('\xf0\x9f\x98'),
    text('\x00\x00\xff\xff'), text('\x01\x00\x00\xff\xff'), text('\x03\x00'),
  ],
  run,
};
