import assert from 'node:assert/strict';
import { ReadyState } from '../../src/protocol/ready-state.js';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ErrorCode, ProtocolError } from '../../src/errors.js';
import { type FrameSink, FrameParser } from '../../src/protocol/frame-parser.js';
import { DEFAULT_FRAME_LIMITS } from '../../src/protocol/limits.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { Protocol, type ProtocolEvent, type ProtocolOptions } from '../../src/protocol/protocol.js';
import { Side } from '../../src/protocol/side.js';
import {
  type RawFrame,
  bytewise,
  chunkings,
  concat,
  decodeFrames,
  frame,
  hex,
  joinChunks,
  prng,
  randomBytes,
  splitAt,
  whole,
} from '../support/bytes.js';

const MASK = hex('37 fa 21 3d');
const SIDES = [Side.SERVER, Side.CLIENT] as const;

/** A frame as the peer of `side` sends it: masked towards a server, unmasked towards a client (§5.3). */
function peerFrame(side: Side, spec: RawFrame): Buffer {
  return frame({ mask: side === Side.SERVER ? MASK : null, ...spec });
}

type Seen =
  | { type: 'message'; data: Buffer; binary: boolean; compressed: boolean }
  | { type: 'ping' | 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; code: ErrorCode; closeCode: number };

/** Copies event payloads at once: they may be slices of the chunks fed in. */
function seen(event: ProtocolEvent): Seen {
  switch (event.type) {
    case 'message':
      return { type: 'message', data: Buffer.from(event.data), binary: event.binary, compressed: event.compressed };
    case 'ping':
    case 'pong':
      return { type: event.type, data: Buffer.from(event.data) };
    case 'close':
      return { type: 'close', code: event.code, reason: event.reason };
    case 'error':
      return { type: 'error', code: event.error.code, closeCode: event.error.closeCode };
  }
}

const text = (data: string | Buffer): Seen => ({ type: 'message', data: Buffer.from(data), binary: false, compressed: false });
const binary = (data: Buffer): Seen => ({ type: 'message', data, binary: true, compressed: false });

function newProtocol(side: Side, options: Partial<ProtocolOptions> = {}): Protocol {
  return new Protocol({ side, maskGenerator: () => MASK, ...options });
}

/** Feeds chunks in order; returns the events, and the index of the chunk each event came after. */
function receive(side: Side, chunks: readonly Buffer[], options: Partial<ProtocolOptions> = {}) {
  const protocol = newProtocol(side, options);
  const events: Seen[] = [];
  const at: number[] = [];
  chunks.forEach((chunk, index) => {
    protocol.receiveData(chunk);
    for (const event of protocol.eventsReceived()) {
      events.push(seen(event));
      at.push(index);
      // As a shell does once it reaches the error event.
      if (event.type === 'error') protocol.fail(event.error);
    }
  });
  return { protocol, events, at, sent: decodeFrames(joinChunks(protocol.dataToSend())) };
}

/** Every chunking of `input` gives exactly `expected`. */
function assertEvents(side: Side, input: Buffer, expected: Seen[], options: Partial<ProtocolOptions> = {}): void {
  for (const { name, chunks } of chunkings(input)) {
    assert.deepEqual(receive(side, chunks, options).events, expected, name);
  }
}

describe('FrameParser: the RFC 6455 §5.7 examples', () => {
  it('client parses a single-frame unmasked text message in every chunking', () => {
    const input = hex(`81              // FIN, opcode 1 (text)
                       05              // unmasked, length 5
                       48 65 6c 6c 6f  // "Hello"`);
    assertEvents(Side.CLIENT, input, [text('Hello')]);
  });

  it('server parses a single-frame masked text message in every chunking', () => {
    const input = hex(`81              // FIN, opcode 1 (text)
                       85              // masked, length 5
                       37 fa 21 3d     // masking key
                       7f 9f 4d 51 58  // "Hello" XOR key`);
    assertEvents(Side.SERVER, input, [text('Hello')]);
  });

  it('client parses a fragmented unmasked text message in every chunking', () => {
    const input = hex(`01              // no FIN, opcode 1 (text)
                       03              // unmasked, length 3
                       48 65 6c        // "Hel"
                       80              // FIN, opcode 0 (continuation)
                       02              // unmasked, length 2
                       6c 6f           // "lo"`);
    assertEvents(Side.CLIENT, input, [text('Hello')]);
  });

  it('client parses an unmasked ping in every chunking', () => {
    const input = hex(`89              // FIN, opcode 9 (ping)
                       05              // unmasked, length 5
                       48 65 6c 6c 6f  // "Hello"`);
    assertEvents(Side.CLIENT, input, [{ type: 'ping', data: Buffer.from('Hello') }]);
  });

  it('server parses a masked pong in every chunking', () => {
    const input = hex(`8a              // FIN, opcode A (pong)
                       85              // masked, length 5
                       37 fa 21 3d     // masking key
                       7f 9f 4d 51 58  // "Hello" XOR key`);
    assertEvents(Side.SERVER, input, [{ type: 'pong', data: Buffer.from('Hello') }]);
  });

  it('client parses 256 bytes of binary in a single unmasked frame in every chunking', () => {
    const payload = randomBytes(prng(256), 256);
    const input = concat(
      hex(`82              // FIN, opcode 2 (binary)
           7e              // unmasked, 16-bit length follows
           01 00           // 256`),
      payload,
    );
    assertEvents(Side.CLIENT, input, [binary(payload)]);
  });

  it('client parses 64 KiB of binary in a single unmasked frame in every chunking', () => {
    const payload = randomBytes(prng(65536), 65536);
    const input = concat(
      hex(`82                        // FIN, opcode 2 (binary)
           7f                        // unmasked, 64-bit length follows
           00 00 00 00 00 01 00 00   // 65536`),
      payload,
    );
    assertEvents(Side.CLIENT, input, [binary(payload)]);
  });

  for (const side of SIDES) {
    it(`${side} parses every example as its peer sends it, one after the other, in every chunking`, () => {
      const big = randomBytes(prng(7), 65536);
      const mid = randomBytes(prng(8), 256);
      const input = concat(
        peerFrame(side, { opcode: Opcode.TEXT, payload: 'Hello' }),
        peerFrame(side, { opcode: Opcode.TEXT, fin: false, payload: 'Hel' }),
        peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'lo' }),
        peerFrame(side, { opcode: Opcode.PING, payload: 'Hello' }),
        peerFrame(side, { opcode: Opcode.PONG, payload: 'Hello' }),
        peerFrame(side, { opcode: Opcode.BINARY, payload: mid }),
        peerFrame(side, { opcode: Opcode.BINARY, payload: big }),
      );
      assertEvents(side, input, [
        text('Hello'),
        text('Hello'),
        { type: 'ping', data: Buffer.from('Hello') },
        { type: 'pong', data: Buffer.from('Hello') },
        binary(mid),
        binary(big),
      ]);
    });
  }
});

/** Feeds one frame `size` bytes at a time: it must arrive whole, in far less than quadratic time. */
function assertTrickledInLinearTime(side: Side, opcode: number, payload: Buffer, size: number): void {
  const input = peerFrame(side, { opcode, payload });
  const protocol = newProtocol(side);
  const started = process.hrtime.bigint();
  for (let at = 0; at < input.length; at += size) protocol.receiveData(input.subarray(at, at + size));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const events = protocol.eventsReceived();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type, 'message');
  assert.ok(payload.equals((events[0] as { data: Buffer }).data));
  // Linear: well under 0.3 s here; the quadratic versions took several seconds.
  assert.ok(elapsedMs < 1500, `took ${elapsedMs.toFixed(0)} ms`);
}

describe('FrameParser: valid input', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('delivers empty text and binary messages and empty fragments', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT }),
          peerFrame(side, { opcode: Opcode.BINARY }),
          peerFrame(side, { opcode: Opcode.TEXT, fin: false }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false, payload: 'a' }),
          peerFrame(side, { opcode: Opcode.CONTINUATION }),
        );
        assertEvents(side, input, [text(''), binary(Buffer.alloc(0)), text('a')]);
      });

      it('delivers control frames interleaved in a fragmented message and still reassembles it', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.BINARY, fin: false, payload: hex('01 02') }),
          peerFrame(side, { opcode: Opcode.PING, payload: 'p1' }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false, payload: hex('03') }),
          peerFrame(side, { opcode: Opcode.PONG, payload: 'p2' }),
          peerFrame(side, { opcode: Opcode.PING }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: hex('04 05') }),
        );
        assertEvents(side, input, [
          { type: 'ping', data: Buffer.from('p1') },
          { type: 'pong', data: Buffer.from('p2') },
          { type: 'ping', data: Buffer.alloc(0) },
          binary(hex('01 02 03 04 05')),
        ]);
      });

      it('validates text that is cut inside multi-byte characters by fragments and chunks', () => {
        const message = Buffer.from('€𝄞κόσμε€');
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT, fin: false, payload: message.subarray(0, 2) }),
          peerFrame(side, { opcode: Opcode.PING, payload: hex('ff') }), // control payloads are not text
          peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false, payload: message.subarray(2, 5) }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: message.subarray(5) }),
        );
        assertEvents(side, input, [{ type: 'ping', data: hex('ff') }, text(message)]);
      });

      it('does not check UTF-8 in binary messages', () => {
        const input = peerFrame(side, { opcode: Opcode.BINARY, payload: hex('ff ed a0 80 c0') });
        assertEvents(side, input, [binary(hex('ff ed a0 80 c0'))]);
      });

      it('passes RSV1 through as "compressed" when allowed, without checking the compressed bytes as UTF-8', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT, rsv1: true, fin: false, payload: hex('ff fe') }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: hex('c0') }),
          peerFrame(side, { opcode: Opcode.BINARY, payload: hex('01') }),
        );
        assertEvents(
          side,
          input,
          [
            { type: 'message', data: hex('ff fe c0'), binary: false, compressed: true },
            binary(hex('01')),
          ],
          { allowRsv1: true },
        );
      });

      it('accepts a message of exactly maxPayload bytes, whole or fragmented', () => {
        const payload = randomBytes(prng(1), 100);
        const input = concat(
          peerFrame(side, { opcode: Opcode.BINARY, payload }),
          peerFrame(side, { opcode: Opcode.BINARY, fin: false, payload: payload.subarray(0, 60) }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: payload.subarray(60) }),
        );
        assertEvents(side, input, [binary(payload), binary(payload)], { maxPayload: 100 });
      });

      it('does not count control frames towards maxPayload', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.BINARY, fin: false, payload: Buffer.alloc(10) }),
          peerFrame(side, { opcode: Opcode.PING, payload: Buffer.alloc(125) }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: Buffer.alloc(0) }),
        );
        assertEvents(side, input, [{ type: 'ping', data: Buffer.alloc(125) }, binary(Buffer.alloc(10))], { maxPayload: 10 });
      });

      it('accepts a message of exactly maxFragments fragments', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT, fin: false, payload: 'a' }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false, payload: 'b' }),
          peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'c' }),
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'd' }),
        );
        assertEvents(side, input, [text('abc'), text('d')], { maxFragments: 3 });
      });

      it('accepts 16-bit and 64-bit lengths that a shorter form could have carried', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'a', lengthForm: 16 }),
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'b', lengthForm: 64 }),
        );
        assertEvents(side, input, [text('a'), text('b')]);
      });

      it('delivers a 4 MiB message sent as 64-byte fragments with the default limits', () => {
        const payload = randomBytes(prng(4), 4 * 1024 * 1024);
        const frames: Buffer[] = [];
        for (let at = 0; at < payload.length; at += 64) {
          frames.push(
            peerFrame(side, {
              opcode: at === 0 ? Opcode.BINARY : Opcode.CONTINUATION,
              fin: at + 64 >= payload.length,
              payload: payload.subarray(at, at + 64),
            }),
          );
        }
        const input = concat(...frames);
        // Whole, and in TCP-sized pieces that cut frames anywhere.
        for (const chunks of [whole(input), splitAt(input, ...Array.from({ length: 300 }, (_, i) => i * 1447))]) {
          const protocol = newProtocol(side);
          for (const chunk of chunks) protocol.receiveData(chunk);
          const events = protocol.eventsReceived();
          assert.equal(events.length, 1);
          const [event] = events;
          assert.equal(event!.type, 'message');
          assert.equal(
            createHash('sha256').update((event as { data: Buffer }).data).digest('hex'),
            createHash('sha256').update(payload).digest('hex'),
          );
        }
      });

      // Regression: the parser rescanned every buffered chunk on each arrival to find the
      // bytes still to unmask and validate (1 MiB in 16-byte chunks took about 7 s).
      it('unmasks and validates a large text frame trickled in small chunks in linear time', () => {
        const payload = Buffer.alloc(1024 * 1024, 'a');
        assertTrickledInLinearTime(side, Opcode.TEXT, payload, 16);
      });

      // Regression: reassembling a payload shifted the chunk list once per chunk, which is
      // linear per shift on large arrays (4 MiB in 16-byte chunks took over 3 s).
      it('reassembles a large frame from many small chunks in linear time', () => {
        const payload = randomBytes(prng(16), 4 * 1024 * 1024);
        assertTrickledInLinearTime(side, Opcode.BINARY, payload, 16);
      });
    });
  }
});

/** A bad input: the failure must be reported on the last byte of `failing`; `rest` must be ignored. */
interface BadInput {
  failing: Buffer;
  rest?: Buffer;
}

interface BadFrameCase {
  when: string;
  sides?: readonly Side[];
  input: (peer: (spec: RawFrame) => Buffer, side: Side) => BadInput;
  code: ErrorCode;
  closeCode: number;
  options?: Partial<ProtocolOptions>;
  /** Events the valid frames before the failure give. */
  before?: Seen[];
}

/** Splits a frame after `n` bytes: the failure is due on byte `n - 1`. */
function cut(data: Buffer, n: number): BadInput {
  return { failing: data.subarray(0, n), rest: data.subarray(n) };
}

/** Header length of a short frame from the peer of `side`. */
function header(side: Side): number {
  return side === Side.SERVER ? 6 : 2;
}

const BAD_FRAMES: BadFrameCase[] = [
  {
    when: 'a client frame is unmasked',
    sides: [Side.SERVER],
    input: () => cut(frame({ opcode: Opcode.TEXT, payload: 'Hello' }), 2),
    code: 'HL_ERR_UNMASKED_FRAME',
    closeCode: 1002,
  },
  {
    when: 'a server frame is masked',
    sides: [Side.CLIENT],
    input: () => cut(frame({ opcode: Opcode.TEXT, payload: 'Hello', mask: MASK }), 2),
    code: 'HL_ERR_MASKED_FRAME',
    closeCode: 1002,
  },
  {
    when: 'an unmasked client control frame arrives inside a fragmented message',
    sides: [Side.SERVER],
    input: (peer) => {
      const first = peer({ opcode: Opcode.TEXT, fin: false, payload: 'a' });
      return cut(concat(first, frame({ opcode: Opcode.PING })), first.length + 2);
    },
    code: 'HL_ERR_UNMASKED_FRAME',
    closeCode: 1002,
  },
  ...[0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf].map(
    (opcode): BadFrameCase => ({
      when: `a frame has the reserved opcode 0x${opcode.toString(16).toUpperCase()}`,
      input: (peer) => cut(peer({ opcode, payload: 'x' }), 2),
      code: 'HL_ERR_INVALID_OPCODE',
      closeCode: 1002,
    }),
  ),
  {
    when: 'RSV1 is set and no extension was negotiated',
    input: (peer) => cut(peer({ opcode: Opcode.TEXT, rsv1: true, payload: 'x' }), 2),
    code: 'HL_ERR_RESERVED_BITS',
    closeCode: 1002,
  },
  {
    when: 'RSV2 is set, even with permessage-deflate negotiated',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, rsv2: true, payload: 'x' }), 2),
    code: 'HL_ERR_RESERVED_BITS',
    closeCode: 1002,
    options: { allowRsv1: true },
  },
  {
    when: 'RSV3 is set, even with permessage-deflate negotiated',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, rsv3: true, payload: 'x' }), 2),
    code: 'HL_ERR_RESERVED_BITS',
    closeCode: 1002,
    options: { allowRsv1: true },
  },
  ...[Opcode.PING, Opcode.PONG, Opcode.CLOSE].map(
    (opcode): BadFrameCase => ({
      when: `RSV1 is set on a control frame (opcode ${opcode}), even with permessage-deflate negotiated`,
      input: (peer) => cut(peer({ opcode, rsv1: true }), 2),
      code: 'HL_ERR_RESERVED_BITS',
      closeCode: 1002,
      options: { allowRsv1: true },
    }),
  ),
  {
    when: 'RSV1 is set on a continuation frame, even with permessage-deflate negotiated',
    input: (peer) => {
      const first = peer({ opcode: Opcode.TEXT, rsv1: true, fin: false, payload: 'ab' });
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, rsv1: true, payload: 'c' })), first.length + 2);
    },
    code: 'HL_ERR_RESERVED_BITS',
    closeCode: 1002,
    options: { allowRsv1: true },
  },
  ...[Opcode.PING, Opcode.PONG, Opcode.CLOSE].map(
    (opcode): BadFrameCase => ({
      when: `a control frame (opcode ${opcode}) is fragmented`,
      input: (peer) => cut(peer({ opcode, fin: false, payload: hex('03 e8') }), 2),
      code: 'HL_ERR_CONTROL_FRAGMENTED',
      closeCode: 1002,
    }),
  ),
  ...[Opcode.PING, Opcode.PONG, Opcode.CLOSE].map(
    (opcode): BadFrameCase => ({
      when: `a control frame (opcode ${opcode}) carries 126 bytes`,
      input: (peer) => cut(peer({ opcode, payload: concat(hex('03 e8'), Buffer.alloc(124, 0x61)) }), 2),
      code: 'HL_ERR_CONTROL_TOO_LONG',
      closeCode: 1002,
    }),
  ),
  {
    when: 'a continuation frame has nothing to continue',
    input: (peer) => cut(peer({ opcode: Opcode.CONTINUATION, payload: 'x' }), 2),
    code: 'HL_ERR_UNEXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    when: 'a continuation frame follows a finished message',
    input: (peer) => {
      const first = concat(
        peer({ opcode: Opcode.TEXT, fin: false, payload: 'a' }),
        peer({ opcode: Opcode.CONTINUATION, payload: 'b' }),
      );
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: 'c' })), first.length + 2);
    },
    code: 'HL_ERR_UNEXPECTED_CONTINUATION',
    closeCode: 1002,
    before: [text('ab')],
  },
  ...[Opcode.TEXT, Opcode.BINARY].map(
    (opcode): BadFrameCase => ({
      when: `a new data frame (opcode ${opcode}) starts inside a fragmented message`,
      input: (peer) => {
        const first = peer({ opcode: Opcode.TEXT, fin: false, payload: 'a' });
        return cut(concat(first, peer({ opcode, payload: 'b' })), first.length + 2);
      },
      code: 'HL_ERR_EXPECTED_CONTINUATION',
      closeCode: 1002,
    }),
  ),
  // RFC 6455 §8.1 and RFC 3629: each invalid text is cut right after its first impossible byte.
  ...[
    ['an invalid byte (FF)', '48 65 ff', 3],
    ['a lone continuation byte', '48 80', 2],
    ['an overlong 2-byte form (C0 80)', 'c0 80', 1],
    ['an overlong 3-byte form (E0 80 80)', 'e0 80 80', 2],
    ['an overlong 4-byte form (F0 8F BF BF)', 'f0 8f bf bf', 2],
    ['a surrogate (ED A0 80)', 'ed a0 80', 2],
    ['a code point above U+10FFFF (F4 90 80 80)', 'f4 90 80 80', 2],
    ['a byte that never appears (F5)', 'f5 80 80 80', 1],
    ['a sequence broken by ASCII (E2 28 A1)', 'e2 28 a1', 2],
  ].map(
    ([what, bytes, deadAt]): BadFrameCase => ({
      when: `a text frame holds ${what as string}`,
      input: (peer, side) => {
        const payload = concat(hex(bytes as string), Buffer.from('tail'));
        return cut(peer({ opcode: Opcode.TEXT, payload }), header(side) + (deadAt as number));
      },
      code: 'HL_ERR_INVALID_UTF8',
      closeCode: 1007,
    }),
  ),
  {
    when: 'an invalid byte of a text frame arrives while the rest of the frame is still missing',
    input: (peer, side) =>
      cut(peer({ opcode: Opcode.TEXT, payload: concat(Buffer.from('Hello'), hex('ff'), Buffer.alloc(200, 0x61)) }), header(side) + 2 + 6),
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'an invalid byte of a continuation frame arrives while the rest of the frame is still missing',
    input: (peer, side) => {
      const first = peer({ opcode: Opcode.TEXT, fin: false, payload: 'ok' });
      const second = peer({ opcode: Opcode.CONTINUATION, payload: concat(hex('e2 82'), hex('28'), Buffer.alloc(100, 0x61)) });
      return cut(concat(first, second), first.length + header(side) + 3);
    },
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'invalid UTF-8 is split across fragments (ED | A0 80)',
    input: (peer, side) => {
      const first = peer({ opcode: Opcode.TEXT, fin: false, payload: hex('41 ed') });
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: hex('a0 80') })), first.length + header(side) + 1);
    },
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'invalid UTF-8 is split across fragments with a ping between them (F4 | 90)',
    input: (peer, side) => {
      const first = concat(
        peer({ opcode: Opcode.TEXT, fin: false, payload: hex('f4') }),
        peer({ opcode: Opcode.PING, payload: 'x' }),
      );
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: hex('90 80 80') })), first.length + header(side) + 1);
    },
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
    before: [{ type: 'ping', data: Buffer.from('x') }],
  },
  {
    when: 'a character cut across fragments is continued by ASCII (E2 | 41 42)',
    input: (peer, side) => {
      const first = peer({ opcode: Opcode.TEXT, fin: false, payload: hex('48 e2') });
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: hex('41 42') })), first.length + header(side) + 1);
    },
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'a single-frame text message ends in the middle of a character',
    input: (peer) => ({ failing: peer({ opcode: Opcode.TEXT, payload: hex('48 e2 82') }) }),
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'a fragmented text message ends in the middle of a character',
    input: (peer) => ({
      failing: concat(
        peer({ opcode: Opcode.TEXT, fin: false, payload: hex('48 f0 9d') }),
        peer({ opcode: Opcode.CONTINUATION, fin: false, payload: hex('84') }),
        peer({ opcode: Opcode.CONTINUATION }),
      ),
    }),
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'a close reason is invalid UTF-8',
    input: (peer) => ({ failing: peer({ opcode: Opcode.CLOSE, payload: hex('03 e8 ed a0 80') }) }),
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    when: 'a close reason ends in the middle of a character',
    input: (peer) => ({ failing: peer({ opcode: Opcode.CLOSE, payload: hex('03 e8 41 e2 82') }) }),
    code: 'HL_ERR_INVALID_UTF8',
    closeCode: 1007,
  },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map(
    (code): BadFrameCase => ({
      when: `a Close frame carries the invalid code ${code}`,
      input: (peer) => {
        const payload = Buffer.alloc(2);
        payload.writeUInt16BE(code);
        return { failing: peer({ opcode: Opcode.CLOSE, payload }) };
      },
      code: 'HL_ERR_INVALID_CLOSE_CODE',
      closeCode: 1002,
    }),
  ),
  {
    when: 'a Close frame has a 1-byte payload',
    input: (peer) => ({ failing: peer({ opcode: Opcode.CLOSE, payload: hex('03') }) }),
    code: 'HL_ERR_INVALID_CLOSE_PAYLOAD',
    closeCode: 1002,
  },
  {
    when: 'a frame announces more than maxPayload (7-bit length)',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, payload: Buffer.alloc(11) }), 2),
    code: 'HL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    options: { maxPayload: 10 },
  },
  {
    when: 'a frame announces more than maxPayload (16-bit length)',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, payload: Buffer.alloc(1001) }), 4),
    code: 'HL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    options: { maxPayload: 1000 },
  },
  {
    when: 'a frame header announces 1 GiB (only the header is sent)',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, length: 2 ** 30 }), 10),
    code: 'HL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    when: 'a frame header announces 2^63 - 1 bytes',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, length: 2n ** 63n - 1n }), 10),
    code: 'HL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    when: 'the fragments of a message add up to more than maxPayload',
    input: (peer) => {
      const first = concat(
        peer({ opcode: Opcode.TEXT, fin: false, payload: 'aaaa' }),
        peer({ opcode: Opcode.CONTINUATION, fin: false, payload: 'bbbb' }),
      );
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: 'ccc' })), first.length + 2);
    },
    code: 'HL_ERR_MESSAGE_TOO_BIG',
    closeCode: 1009,
    options: { maxPayload: 10 },
  },
  {
    when: 'a 64-bit length has its most significant bit set',
    input: (peer) => cut(peer({ opcode: Opcode.BINARY, payload: 'x', length: 2n ** 63n + 1n, lengthForm: 64 }), 10),
    code: 'HL_ERR_INVALID_LENGTH',
    closeCode: 1002,
  },
  {
    when: 'a message has more than maxFragments fragments',
    input: (peer) => {
      const first = concat(
        peer({ opcode: Opcode.BINARY, fin: false, payload: 'a' }),
        peer({ opcode: Opcode.CONTINUATION, fin: false, payload: 'b' }),
        peer({ opcode: Opcode.CONTINUATION, fin: false }),
      );
      return cut(concat(first, peer({ opcode: Opcode.CONTINUATION, payload: 'c' })), first.length + 2);
    },
    code: 'HL_ERR_TOO_MANY_FRAGMENTS',
    closeCode: 1009,
    options: { maxFragments: 3 },
  },
];

describe('FrameParser: bad frames fail the connection', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      for (const bad of BAD_FRAMES) {
        if (bad.sides && !bad.sides.includes(side)) continue;
        it(`fails with ${bad.closeCode} (${bad.code}) when ${bad.when}`, () => {
          const { failing, rest = Buffer.alloc(0) } = bad.input((spec) => peerFrame(side, spec), side);
          const afterwards = peerFrame(side, { opcode: Opcode.PING, payload: 'still there?' });
          const input = concat(failing, rest, afterwards);
          let checked = 0;
          for (const { name, chunks } of chunkings(input)) {
            const { protocol, events, sent } = receive(side, chunks, bad.options);
            assert.deepEqual(events, [...(bad.before ?? []), { type: 'error', code: bad.code, closeCode: bad.closeCode }], name);
            // The Close frame queued carries the close code; a client masks it (§5.3).
            const close = sent.at(-1);
            assert.ok(close, `${name}: a Close frame is queued`);
            assert.equal(close.opcode, Opcode.CLOSE, name);
            assert.equal(close.payload.readUInt16BE(0), bad.closeCode, name);
            assert.deepEqual(close.mask, side === Side.CLIENT ? MASK : null, name);
            assert.equal(protocol.closeExpected, true, name);
            assert.equal(protocol.state, ReadyState.CLOSED, name);
            // Further input is ignored.
            protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'more' }));
            assert.deepEqual(protocol.eventsReceived(), [], name);
            assert.deepEqual(protocol.dataToSend(), [], name);
            checked++;
          }
          assert.ok(checked > 1);
        });

        it(`fails on the first byte that shows ${bad.when}`, () => {
          const { failing } = bad.input((spec) => peerFrame(side, spec), side);
          const { events, at } = receive(side, bytewise(failing), bad.options);
          assert.equal(events.length, (bad.before?.length ?? 0) + 1);
          assert.equal(events.at(-1)!.type, 'error');
          assert.equal(at.at(-1), failing.length - 1, 'the failure is reported on the last byte of the failing prefix');
        });
      }
    });
  }
});

describe('FrameParser: Close frames', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
        it(`accepts the close code ${code} and echoes it`, () => {
          const payload = concat(Buffer.from([code >> 8, code & 0xff]), Buffer.from('bye €'));
          for (const { name, chunks } of chunkings(peerFrame(side, { opcode: Opcode.CLOSE, payload }), { random: 2 })) {
            const { events, sent } = receive(side, chunks);
            assert.deepEqual(events, [{ type: 'close', code, reason: 'bye €' }], name);
            assert.equal(sent.length, 1);
            assert.equal(sent[0]!.opcode, Opcode.CLOSE);
            assert.deepEqual(sent[0]!.payload, payload.subarray(0, 2));
          }
        });
      }

      it('reports 1005 for a Close frame without payload', () => {
        assertEvents(side, peerFrame(side, { opcode: Opcode.CLOSE }), [{ type: 'close', code: 1005, reason: '' }]);
      });

      it('accepts a reason of 123 bytes', () => {
        const reason = '€'.repeat(41);
        const payload = concat(hex('0f a0'), Buffer.from(reason));
        assertEvents(side, peerFrame(side, { opcode: Opcode.CLOSE, payload }), [{ type: 'close', code: 4000, reason }]);
      });

      it('ignores everything after a Close frame, in the same chunk or later', () => {
        const input = concat(
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'before' }),
          peerFrame(side, { opcode: Opcode.CLOSE, payload: hex('03 e8') }),
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'after' }),
          peerFrame(side, { opcode: Opcode.PING }),
          hex('ff ff ff ff'), // not even a valid frame
        );
        assertEvents(side, input, [text('before'), { type: 'close', code: 1000, reason: '' }]);
      });
    });
  }
});

class Recorder implements FrameSink {
  readonly messages: Buffer[] = [];
  onMessage(data: Buffer): void {
    this.messages.push(data);
  }
  onPing(): void {}
  onPong(): void {}
  onClose(): void {}
}

function newParser(side: Side, sink: FrameSink, limits: Partial<typeof DEFAULT_FRAME_LIMITS> = {}): FrameParser {
  return new FrameParser(sink, { side, allowRsv1: false, ...DEFAULT_FRAME_LIMITS, ...limits });
}

describe('FrameParser: memory', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('hands a frame that arrived in one chunk over as a slice of that chunk', () => {
        const sink = new Recorder();
        const parser = newParser(side, sink);
        const chunk = concat(
          peerFrame(side, { opcode: Opcode.BINARY, payload: Buffer.alloc(1000, 7) }),
          peerFrame(side, { opcode: Opcode.TEXT, payload: 'second' }),
        );
        parser.write(chunk);
        assert.equal(sink.messages.length, 2);
        for (const message of sink.messages) assert.equal(message.buffer, chunk.buffer, 'no copy');
        assert.deepEqual(sink.messages[0], Buffer.alloc(1000, 7));
        assert.equal(sink.messages[1]!.toString(), 'second');
      });

      it('assembles a large frame that spans reads without keeping the reads', () => {
        const sink = new Recorder();
        const parser = newParser(side, sink);
        const payload = randomBytes(prng(11), 300_000);
        const input = peerFrame(side, { opcode: Opcode.BINARY, payload });
        const internals = parser as unknown as { chunks: Buffer[]; buffered: number };
        for (let at = 0; at < input.length; at += 65_537) {
          parser.write(Buffer.from(input.subarray(at, at + 65_537)));
          if (sink.messages.length === 0) assert.equal(internals.chunks.length, 0);
        }
        assert.equal(sink.messages.length, 1);
        assert.ok(payload.equals(sink.messages[0]!));
        assert.equal(internals.buffered, 0);
      });

      it('fails a large trickled text frame at the first read with invalid UTF-8', () => {
        const protocol = newProtocol(side);
        const payload = Buffer.alloc(200_000, 0x61);
        payload[70_000] = 0xff;
        const input = peerFrame(side, { opcode: Opcode.TEXT, payload });
        protocol.receiveData(input.subarray(0, 65_536));
        assert.deepEqual(protocol.eventsReceived(), []);
        protocol.receiveData(input.subarray(65_536, 80_000));
        const [event] = protocol.eventsReceived();
        const failure = (event as { error?: ProtocolError } | undefined)?.error;
        assert.equal(failure?.code, 'HL_ERR_INVALID_UTF8');
        assert.equal(failure?.closeCode, 1007);
      });

      it('keeps a flood of empty fragments in constant memory', () => {
        const sink = new Recorder();
        const parser = newParser(side, sink, { maxFragments: 1_000_000 });
        parser.write(peerFrame(side, { opcode: Opcode.BINARY, fin: false }));
        const empty = peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false });
        const batch = concat(...Array.from({ length: 10_000 }, () => empty));
        for (let i = 0; i < 50; i++) parser.write(Buffer.from(batch));
        // White-box: nothing is retained per fragment, only the one reassembly buffer.
        const internals = parser as unknown as { chunks: Buffer[]; buffered: number; fragments: Buffer | null };
        assert.equal(internals.chunks.length, 0);
        assert.equal(internals.buffered, 0);
        assert.ok((internals.fragments?.length ?? 0) <= 1024);
        parser.write(peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'end' }));
        assert.deepEqual(sink.messages.map(String), ['end']);
      });

      it('stops a flood of empty fragments at maxFragments with the default limits', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.BINARY, fin: false }));
        const empty = peerFrame(side, { opcode: Opcode.CONTINUATION, fin: false });
        const batch = concat(...Array.from({ length: 10_000 }, () => empty));
        let fragments = 1;
        let events: ProtocolEvent[] = [];
        while (events.length === 0 && fragments < DEFAULT_FRAME_LIMITS.maxFragments * 2) {
          protocol.receiveData(Buffer.from(batch));
          events = protocol.eventsReceived();
          fragments += 10_000;
        }
        const [event] = events;
        assert.equal(event?.type, 'error');
        assert.equal((event as { error: ProtocolError }).error.code, 'HL_ERR_TOO_MANY_FRAGMENTS');
        assert.equal((event as { error: ProtocolError }).error.closeCode, 1009);
        assert.ok(fragments > DEFAULT_FRAME_LIMITS.maxFragments);
      });

      it('releases its buffers when stopped', () => {
        const parser = newParser(side, new Recorder());
        parser.write(peerFrame(side, { opcode: Opcode.TEXT, fin: false, payload: 'abc' }));
        parser.write(peerFrame(side, { opcode: Opcode.CONTINUATION, payload: Buffer.alloc(100) }).subarray(0, 20));
        parser.stop();
        const internals = parser as unknown as { chunks: Buffer[]; fragments: Buffer | null };
        assert.equal(parser.stopped, true);
        assert.equal(internals.chunks.length, 0);
        assert.equal(internals.fragments, null);
        parser.write(Buffer.from('ignored'));
        assert.equal(internals.chunks.length, 0);
      });
    });
  }
});
