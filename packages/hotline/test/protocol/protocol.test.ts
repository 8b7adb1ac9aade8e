import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, ProtocolError } from '../../src/errors.js';
import { Opcode } from '../../src/protocol/opcode.js';
import {
  Protocol,
  type ProtocolEvent,
  type ProtocolOptions,
  encodeClosePayload,
  truncateReason,
} from '../../src/protocol/protocol.js';
import { Side } from '../../src/protocol/side.js';
import { ReadyState } from '../../src/protocol/ready-state.js';
import {
  type DecodedFrame,
  type RawFrame,
  concat,
  decodeFrames,
  frame,
  hex,
  joinChunks,
  prng,
  randomBytes,
} from '../support/bytes.js';

const MASK = hex('37 fa 21 3d');
const SIDES = [Side.SERVER, Side.CLIENT] as const;

function newProtocol(side: Side, options: Partial<ProtocolOptions> = {}): Protocol {
  return new Protocol({ side, maskGenerator: () => MASK, ...options });
}

/** A frame as the peer of `side` sends it: masked towards a server, unmasked towards a client (§5.3). */
function peerFrame(side: Side, spec: RawFrame): Buffer {
  return frame({ mask: side === Side.SERVER ? MASK : null, ...spec });
}

/** The mask our own frames carry: the generator's for a client, none for a server. */
function ownMask(side: Side): Buffer | null {
  return side === Side.CLIENT ? MASK : null;
}

/** Takes what the protocol queued and splits it into frames. */
function sent(protocol: Protocol): DecodedFrame[] {
  return decodeFrames(joinChunks(protocol.dataToSend()));
}

function expected(side: Side, spec: Partial<Omit<DecodedFrame, 'payload'>> & { opcode: number; payload: Buffer | string }): DecodedFrame {
  return {
    fin: true,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    mask: ownMask(side),
    ...spec,
    payload: Buffer.from(spec.payload),
  };
}

function closePayload(code: number, reason = ''): Buffer {
  return concat(Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason));
}

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code);
    return true;
  });
}

function types(events: ProtocolEvent[]): string[] {
  return events.map((event) => event.type);
}

/** Feeds `bytes` and, as a shell does on reaching an `error` event, fails with its error. */
function failOnError(protocol: Protocol, bytes: Buffer): ProtocolEvent[] {
  protocol.receiveData(bytes);
  const events = protocol.eventsReceived();
  for (const event of events) if (event.type === 'error') protocol.fail(event.error);
  return events;
}

describe('Protocol: sending the RFC 6455 §5.7 examples, byte for byte', () => {
  it('server sends a single-frame unmasked text message', () => {
    const protocol = newProtocol(Side.SERVER);
    protocol.sendMessage(Buffer.from('Hello'), false);
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      hex(`81              // FIN, opcode 1 (text)
           05              // unmasked, length 5
           48 65 6c 6c 6f  // "Hello"`),
    );
  });

  it('client sends a single-frame masked text message with the generator\'s key', () => {
    const protocol = newProtocol(Side.CLIENT);
    protocol.sendMessage(Buffer.from('Hello'), false);
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      hex(`81              // FIN, opcode 1 (text)
           85              // masked, length 5
           37 fa 21 3d     // masking key
           7f 9f 4d 51 58  // "Hello" XOR key`),
    );
  });

  it('server sends a fragmented unmasked text message', () => {
    const protocol = newProtocol(Side.SERVER);
    protocol.sendFragment(Buffer.from('Hel'), false, false);
    protocol.sendFragment(Buffer.from('lo'), false, true);
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      hex(`01              // no FIN, opcode 1 (text)
           03              // unmasked, length 3
           48 65 6c        // "Hel"
           80              // FIN, opcode 0 (continuation)
           02              // unmasked, length 2
           6c 6f           // "lo"`),
    );
  });

  it('server sends an unmasked ping', () => {
    const protocol = newProtocol(Side.SERVER);
    protocol.sendPing(Buffer.from('Hello'));
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      hex(`89              // FIN, opcode 9 (ping)
           05              // unmasked, length 5
           48 65 6c 6c 6f  // "Hello"`),
    );
  });

  it('client sends a masked pong', () => {
    const protocol = newProtocol(Side.CLIENT);
    protocol.sendPong(Buffer.from('Hello'));
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      hex(`8a              // FIN, opcode A (pong)
           85              // masked, length 5
           37 fa 21 3d     // masking key
           7f 9f 4d 51 58  // "Hello" XOR key`),
    );
  });

  it('server sends 256 bytes of binary with a 16-bit length', () => {
    const payload = randomBytes(prng(256), 256);
    const protocol = newProtocol(Side.SERVER);
    protocol.sendMessage(payload, true);
    assert.deepEqual(
      joinChunks(protocol.dataToSend()),
      concat(
        hex(`82              // FIN, opcode 2 (binary)
             7e              // unmasked, 16-bit length follows
             01 00           // 256`),
        payload,
      ),
    );
  });

  it('server sends 64 KiB of binary as [header, payload], without copying the payload', () => {
    const payload = randomBytes(prng(65536), 65536);
    const protocol = newProtocol(Side.SERVER);
    protocol.sendMessage(payload, true);
    const chunks = protocol.dataToSend();
    assert.equal(chunks.length, 2);
    assert.deepEqual(
      chunks[0],
      hex(`82                        // FIN, opcode 2 (binary)
           7f                        // unmasked, 64-bit length follows
           00 00 00 00 00 01 00 00   // 65536`),
    );
    assert.equal(chunks[1], payload);
  });

  it('client sends 64 KiB of binary masked in one buffer, leaving the caller\'s bytes intact', () => {
    const payload = randomBytes(prng(65536), 65536);
    const original = Buffer.from(payload);
    const protocol = newProtocol(Side.CLIENT);
    protocol.sendMessage(payload, true);
    const chunks = protocol.dataToSend();
    assert.equal(chunks.length, 1);
    assert.deepEqual(
      Buffer.from(chunks[0]!.subarray(0, 14)),
      hex(`82                        // FIN, opcode 2 (binary)
           ff                        // masked, 64-bit length follows
           00 00 00 00 00 01 00 00   // 65536
           37 fa 21 3d               // masking key`),
    );
    assert.deepEqual(decodeFrames(chunks[0]!)[0]!.payload, original);
    assert.deepEqual(payload, original);
  });
});

describe('Protocol: sending', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('encodes header lengths at the 125/126 and 65535/65536 boundaries', () => {
        for (const length of [0, 125, 126, 65535, 65536]) {
          const payload = randomBytes(prng(length), length);
          const protocol = newProtocol(side);
          protocol.sendMessage(payload, true);
          const chunks = protocol.dataToSend();
          const bytes = joinChunks(chunks);
          const form = length < 126 ? length : length < 65536 ? 126 : 127;
          assert.equal(bytes[1]! & 0x7f, form, `length ${length}`);
          assert.equal(protocol.pendingBytes, 0);
          assert.deepEqual(decodeFrames(bytes), [expected(side, { opcode: Opcode.BINARY, payload })]);
        }
      });

      it('counts the queued bytes in pendingBytes until dataToSend takes them', () => {
        const protocol = newProtocol(side);
        protocol.sendMessage(Buffer.alloc(10), true);
        protocol.sendMessage(Buffer.alloc(70_000), true);
        const total = joinChunks(protocol.dataToSend()).length;
        assert.equal(total, (side === Side.CLIENT ? 20 : 12) + 10 + 70_000);
        protocol.sendPing();
        assert.equal(protocol.pendingBytes, side === Side.CLIENT ? 6 : 2);
        protocol.dataToSend();
        assert.equal(protocol.pendingBytes, 0);
        assert.deepEqual(protocol.dataToSend(), []);
      });

      it('masks each frame with the next key from the generator', () => {
        const keys = [hex('01 02 03 04'), hex('a0 b0 c0 d0'), hex('ff 00 ff 00')];
        let next = 0;
        const protocol = newProtocol(side, { maskGenerator: () => keys[next++]! });
        protocol.sendMessage(Buffer.from('one'), false);
        protocol.sendPing(Buffer.from('two'));
        protocol.sendMessage(Buffer.from('three'), true);
        const frames = sent(protocol);
        assert.deepEqual(
          frames.map((f) => f.mask),
          side === Side.CLIENT ? keys : [null, null, null],
        );
        assert.deepEqual(frames.map((f) => f.payload.toString()), ['one', 'two', 'three']);
        assert.equal(next, side === Side.CLIENT ? 3 : 0, 'a server never draws keys');
      });

      it('sends a fragmented message as its opcode then continuations, RSV1 only on the first', () => {
        const protocol = newProtocol(side);
        assert.equal(protocol.fragmenting, false);
        protocol.sendFragment(Buffer.from('a'), true, false, true);
        assert.equal(protocol.fragmenting, true);
        protocol.sendPing(Buffer.from('between'));
        protocol.sendFragment(Buffer.from('b'), true, false, true);
        protocol.sendFragment(Buffer.from('c'), false, true, true);
        assert.equal(protocol.fragmenting, false);
        protocol.sendFragment(Buffer.from('d'), false, true);
        assert.deepEqual(sent(protocol), [
          expected(side, { opcode: Opcode.BINARY, fin: false, rsv1: true, payload: 'a' }),
          expected(side, { opcode: Opcode.PING, payload: 'between' }),
          expected(side, { opcode: Opcode.CONTINUATION, fin: false, payload: 'b' }),
          expected(side, { opcode: Opcode.CONTINUATION, payload: 'c' }),
          expected(side, { opcode: Opcode.TEXT, payload: 'd' }),
        ]);
      });

      it('refuses a whole message or a pre-encoded frame in the middle of a fragmented one', () => {
        const protocol = newProtocol(side);
        protocol.sendFragment(Buffer.from('a'), false, false);
        throwsCode(() => protocol.sendMessage(Buffer.from('b'), false), 'HL_ERR_INVALID_STATE');
        throwsCode(() => protocol.sendEncoded(hex('81 00')), 'HL_ERR_INVALID_STATE');
        protocol.sendFragment(Buffer.from('c'), false, true);
        protocol.sendMessage(Buffer.from('d'), false);
        assert.deepEqual(sent(protocol).map((f) => [f.opcode, f.payload.toString()]), [
          [Opcode.TEXT, 'a'],
          [Opcode.CONTINUATION, 'c'],
          [Opcode.TEXT, 'd'],
        ]);
      });

      it('queues pre-encoded frames as they are', () => {
        const protocol = newProtocol(side);
        const encoded = hex('81 02 68 69');
        protocol.sendEncoded(encoded);
        assert.deepEqual(protocol.dataToSend(), [encoded]);
      });

      it('refuses ping and pong payloads over 125 bytes', () => {
        const protocol = newProtocol(side);
        protocol.sendPing(Buffer.alloc(125));
        protocol.sendPong(Buffer.alloc(125));
        throwsCode(() => protocol.sendPing(Buffer.alloc(126)), 'HL_ERR_INVALID_ARGUMENT');
        throwsCode(() => protocol.sendPong(Buffer.alloc(126)), 'HL_ERR_INVALID_ARGUMENT');
        assert.deepEqual(sent(protocol).map((f) => f.opcode), [Opcode.PING, Opcode.PONG]);
      });

      it('sends an empty ping by default', () => {
        const protocol = newProtocol(side);
        protocol.sendPing();
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.PING, payload: '' })]);
      });
    });
  }
});

describe('Protocol: pings and pongs', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('queues a pong with the same payload as soon as a ping is received', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING, payload: 'Hello' }));
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.PONG, payload: 'Hello' })]);
        assert.deepEqual(protocol.eventsReceived(), [{ type: 'ping', data: Buffer.from('Hello') }]);
      });

      it('answers each of several pings, including empty and 125-byte ones, in order', () => {
        const big = randomBytes(prng(125), 125);
        const protocol = newProtocol(side);
        protocol.receiveData(
          concat(
            peerFrame(side, { opcode: Opcode.PING }),
            peerFrame(side, { opcode: Opcode.TEXT, payload: 'text' }),
            peerFrame(side, { opcode: Opcode.PING, payload: big }),
          ),
        );
        assert.deepEqual(sent(protocol), [
          expected(side, { opcode: Opcode.PONG, payload: '' }),
          expected(side, { opcode: Opcode.PONG, payload: big }),
        ]);
        assert.deepEqual(types(protocol.eventsReceived()), ['ping', 'message', 'ping']);
      });

      it('answers a ping that arrives in the middle of a fragmented message', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(
          concat(
            peerFrame(side, { opcode: Opcode.TEXT, fin: false, payload: 'Hel' }),
            peerFrame(side, { opcode: Opcode.PING, payload: 'p' }),
          ),
        );
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.PONG, payload: 'p' })]);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'lo' }));
        const events = protocol.eventsReceived();
        assert.deepEqual(types(events), ['ping', 'message']);
        assert.equal((events[1] as { data: Buffer }).data.toString(), 'Hello');
      });

      it('queues the pong while a fragmented message of its own is being sent', () => {
        const protocol = newProtocol(side);
        protocol.sendFragment(Buffer.from('part'), false, false);
        protocol.dataToSend();
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING, payload: 'p' }));
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.PONG, payload: 'p' })]);
        protocol.sendFragment(Buffer.from('end'), false, true);
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CONTINUATION, payload: 'end' })]);
      });

      it('sends no pong after it sent a Close frame', () => {
        const protocol = newProtocol(side);
        protocol.sendClose(1000);
        protocol.dataToSend();
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING, payload: 'late' }));
        assert.deepEqual(protocol.dataToSend(), []);
        assert.deepEqual(types(protocol.eventsReceived()), ['ping']);
      });

      it('reports a pong and sends nothing back', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PONG, payload: 'ack' }));
        assert.deepEqual(protocol.eventsReceived(), [{ type: 'pong', data: Buffer.from('ack') }]);
        assert.deepEqual(protocol.dataToSend(), []);
      });
    });
  }
});

describe('Protocol: the closing handshake', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('closes first: CLOSING until the echo arrives, then CLOSED', () => {
        const protocol = newProtocol(side);
        assert.equal(protocol.state, ReadyState.OPEN);
        protocol.sendClose(1000, 'bye');
        assert.equal(protocol.state, ReadyState.CLOSING);
        assert.deepEqual(protocol.closeSent, { code: 1000, reason: 'bye' });
        assert.equal(protocol.closeExpected, false);
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(1000, 'bye') })]);

        // Messages still in flight from the peer are delivered (§5.5.1).
        protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'in flight' }));
        assert.equal(protocol.state, ReadyState.CLOSING);

        protocol.receiveData(peerFrame(side, { opcode: Opcode.CLOSE, payload: closePayload(1000) }));
        assert.equal(protocol.state, ReadyState.CLOSED);
        assert.deepEqual(protocol.closeReceived, { code: 1000, reason: '' });
        assert.deepEqual(protocol.dataToSend(), [], 'no second Close frame');
        // §7.1.1: the server closes the TCP connection first; the client waits for it.
        assert.equal(protocol.closeExpected, side === Side.SERVER);
        const events = protocol.eventsReceived();
        assert.deepEqual(types(events), ['message', 'close']);
        assert.deepEqual(events[1], { type: 'close', code: 1000, reason: '' });
      });

      it('echoes the code of a Close frame received first, without the reason', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.CLOSE, payload: closePayload(1001, 'going away') }));
        assert.deepEqual(protocol.eventsReceived(), [{ type: 'close', code: 1001, reason: 'going away' }]);
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(1001) })]);
        assert.equal(protocol.state, ReadyState.CLOSED);
        assert.deepEqual(protocol.closeReceived, { code: 1001, reason: 'going away' });
        assert.deepEqual(protocol.closeSent, { code: 1001, reason: '' });
        assert.equal(protocol.closeExpected, side === Side.SERVER);
      });

      it('echoes an empty Close frame with an empty one (1005)', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.CLOSE }));
        assert.deepEqual(protocol.eventsReceived(), [{ type: 'close', code: 1005, reason: '' }]);
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: '' })]);
      });

      it('ignores data after the peer\'s Close frame', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(
          concat(
            peerFrame(side, { opcode: Opcode.CLOSE, payload: closePayload(1000) }),
            peerFrame(side, { opcode: Opcode.TEXT, payload: 'same chunk' }),
          ),
        );
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING, payload: 'next chunk' }));
        assert.deepEqual(types(protocol.eventsReceived()), ['close']);
        assert.deepEqual(sent(protocol).map((f) => f.opcode), [Opcode.CLOSE]);
      });

      it('sends an empty Close frame when no code is given', () => {
        const protocol = newProtocol(side);
        protocol.sendClose();
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: '' })]);
        assert.deepEqual(protocol.closeSent, { code: 1005, reason: '' });
      });

      it('does nothing when asked to close a second time', () => {
        const protocol = newProtocol(side);
        protocol.sendClose(4000, 'first');
        protocol.sendClose(1000, 'second');
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(4000, 'first') })]);
        assert.deepEqual(protocol.closeSent, { code: 4000, reason: 'first' });
      });

      for (const [when, close] of [
        ['after sendClose', (p: Protocol) => p.sendClose(1000)],
        ['after the peer closed', (p: Protocol) => p.receiveData(peerFrame(side, { opcode: Opcode.CLOSE }))],
        ['after a failure', (p: Protocol) => failOnError(p, hex('83 00'))],
        ['after the end of the stream', (p: Protocol) => p.receiveEof()],
      ] as const) {
        it(`refuses to send ${when} with HL_ERR_INVALID_STATE`, () => {
          const protocol = newProtocol(side);
          close(protocol);
          protocol.dataToSend();
          throwsCode(() => protocol.sendMessage(Buffer.from('x'), false), 'HL_ERR_INVALID_STATE');
          throwsCode(() => protocol.sendFragment(Buffer.from('x'), true, false), 'HL_ERR_INVALID_STATE');
          throwsCode(() => protocol.sendPing(), 'HL_ERR_INVALID_STATE');
          throwsCode(() => protocol.sendPong(), 'HL_ERR_INVALID_STATE');
          throwsCode(() => protocol.sendEncoded(hex('81 00')), 'HL_ERR_INVALID_STATE');
          assert.deepEqual(protocol.dataToSend(), []);
        });
      }

      // Regression: after the end of the stream, sendClose took the connection from CLOSED
      // back to CLOSING and queued a Close frame for a transport that is gone.
      it('stays CLOSED when asked to close after the end of the stream', () => {
        const protocol = newProtocol(side);
        protocol.receiveEof();
        assert.equal(protocol.state, ReadyState.CLOSED);
        protocol.sendClose(1000);
        assert.equal(protocol.state, ReadyState.CLOSED);
        assert.deepEqual(protocol.dataToSend(), []);
      });

      it('ignores input after the end of the stream', () => {
        const protocol = newProtocol(side);
        protocol.receiveEof();
        protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'late' }));
        assert.deepEqual(protocol.eventsReceived(), []);
        assert.equal(protocol.eofReceived, true);
      });

      for (const [what, code, reason] of [
        ['the invalid code 999', 999, ''],
        ['the reserved code 1004', 1004, ''],
        ['the reporting-only code 1006', 1006, ''],
        ['the reporting-only code 1015', 1015, ''],
        ['the unassigned code 2999', 2999, ''],
        ['the out-of-range code 5000', 5000, ''],
        ['a reason without a code (1005)', 1005, 'why'],
        ['a 124-byte reason', 1000, 'x'.repeat(124)],
        ['a reason of 42 three-byte characters (126 bytes)', 1000, '€'.repeat(42)],
      ] as const) {
        it(`refuses to close with ${what} (HL_ERR_INVALID_ARGUMENT) and stays open`, () => {
          const protocol = newProtocol(side);
          throwsCode(() => protocol.sendClose(code, reason), 'HL_ERR_INVALID_ARGUMENT');
          assert.equal(protocol.state, ReadyState.OPEN);
          assert.equal(protocol.closeSent, null);
          assert.deepEqual(protocol.dataToSend(), []);
          protocol.sendMessage(Buffer.from('still open'), false);
        });
      }

      it('closes with a 123-byte reason', () => {
        const protocol = newProtocol(side);
        const reason = '€'.repeat(41);
        protocol.sendClose(4999, reason);
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(4999, reason) })]);
      });
    });
  }
});

describe('Protocol: failing the connection', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('fails on a bad frame: error event, Close frame with the code, closeExpected, input ignored', () => {
        const protocol = newProtocol(side);
        const events = failOnError(protocol, concat(peerFrame(side, { opcode: Opcode.TEXT, payload: 'ok' }), peerFrame(side, { opcode: 0x3 })));
        assert.deepEqual(types(events), ['message', 'error']);
        const { error } = events[1] as { error: ProtocolError };
        assert.ok(error instanceof ProtocolError);
        assert.equal(error.code, 'HL_ERR_INVALID_OPCODE');
        assert.equal(error.closeCode, 1002);
        assert.equal(protocol.failure, error);
        const [close, ...rest] = sent(protocol);
        assert.equal(rest.length, 0);
        assert.equal(close!.opcode, Opcode.CLOSE);
        assert.deepEqual(close!.mask, ownMask(side));
        assert.equal(close!.payload.readUInt16BE(0), 1002);
        assert.equal(protocol.closeExpected, true);
        assert.equal(protocol.state, ReadyState.CLOSED);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING }));
        assert.deepEqual(protocol.eventsReceived(), []);
        assert.deepEqual(protocol.dataToSend(), []);
      });

      it('fails on request with the code and a short reason; 1011 withholds its details', () => {
        const protocol = newProtocol(side);
        protocol.fail(new ProtocolError('HL_ERR_MESSAGE_TOO_BIG', 1009, 'too big'));
        assert.deepEqual(sent(protocol), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(1009, 'too big') })]);

        const internal = newProtocol(side);
        internal.fail(new ProtocolError('HL_ERR_INVALID_COMPRESSED_DATA', 1011, 'zlib said something private'));
        assert.deepEqual(sent(internal), [expected(side, { opcode: Opcode.CLOSE, payload: closePayload(1011) })]);
      });

      it('cuts a long failure message to a 123-byte reason', () => {
        const protocol = newProtocol(side);
        protocol.fail(new ProtocolError('HL_ERR_INVALID_UTF8', 1007, 'é'.repeat(100)));
        const [close] = sent(protocol);
        assert.ok(close!.payload.length <= 125);
        assert.equal(close!.payload.subarray(2).toString(), 'é'.repeat(61));
      });

      it('fails only once, and queues no event for a failure the shell asked for', () => {
        const protocol = newProtocol(side);
        protocol.fail(new ProtocolError('HL_ERR_INVALID_UTF8', 1007, 'first'));
        protocol.fail(new ProtocolError('HL_ERR_INVALID_OPCODE', 1002, 'second'));
        assert.equal(sent(protocol).length, 1);
        assert.equal(protocol.failure?.code, 'HL_ERR_INVALID_UTF8');
        assert.deepEqual(protocol.eventsReceived(), []);
      });

      it('sends no second Close frame when failing after it closed', () => {
        const protocol = newProtocol(side);
        protocol.sendClose(1000);
        protocol.dataToSend();
        failOnError(protocol, peerFrame(side, { opcode: Opcode.TEXT, payload: hex('ff') }));
        assert.deepEqual(protocol.dataToSend(), []);
        assert.equal(protocol.failure?.closeCode, 1007);
        assert.equal(protocol.closeExpected, true);
        assert.equal(protocol.state, ReadyState.CLOSED);
      });

      it('queues the automatic answers before the Close frame of a later failure in the same chunk', () => {
        const protocol = newProtocol(side);
        failOnError(protocol, concat(peerFrame(side, { opcode: Opcode.PING, payload: 'p' }), peerFrame(side, { opcode: 0xb })));
        assert.deepEqual(sent(protocol).map((f) => f.opcode), [Opcode.PONG, Opcode.CLOSE]);
      });
    });
  }
});

/**
 * Autobahn 3.x, 4.x, 5.x, 6.x "strict": what a peer sent before a violation in the same
 * read is handled, and answered, before the connection is failed.
 */
describe('Protocol: events before a violation in the same read', () => {
  const violations: Array<[string, (side: Side) => Buffer, string, number]> = [
    ['RSV2 set (Autobahn 3.2)', (side) => peerFrame(side, { opcode: Opcode.TEXT, payload: 'x', rsv2: true }), 'HL_ERR_RESERVED_BITS', 1002],
    ['a reserved data opcode (Autobahn 4.1.3)', (side) => peerFrame(side, { opcode: 0x5 }), 'HL_ERR_INVALID_OPCODE', 1002],
    ['a reserved control opcode (Autobahn 4.2.3)', (side) => peerFrame(side, { opcode: 0xd }), 'HL_ERR_INVALID_OPCODE', 1002],
    ['a stray continuation (Autobahn 5.9)', (side) => peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'c' }), 'HL_ERR_UNEXPECTED_CONTINUATION', 1002],
    ['a bad close code (Autobahn 7.9.x)', (side) => peerFrame(side, { opcode: Opcode.CLOSE, payload: closePayload(1004) }), 'HL_ERR_INVALID_CLOSE_CODE', 1002],
    ['bad UTF-8 in a later message (Autobahn 6.x)', (side) => peerFrame(side, { opcode: Opcode.TEXT, payload: hex('ce ba e1 bd b9 ed a0 80') }), 'HL_ERR_INVALID_UTF8', 1007],
  ];
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      for (const [what, violation, code, closeCode] of violations) {
        it(`reports the message before ${what}, then the error, and queues no Close until failed`, () => {
          const protocol = newProtocol(side);
          protocol.receiveData(concat(peerFrame(side, { opcode: Opcode.TEXT, payload: 'Hello' }), violation(side)));
          const events = protocol.eventsReceived();
          assert.deepEqual(types(events), ['message', 'error']);
          assert.equal((events[0] as { data: Buffer }).data.toString(), 'Hello');
          const { error } = events[1] as { error: ProtocolError };
          assert.equal(error.code, code);
          assert.equal(error.closeCode, closeCode);
          assert.deepEqual(protocol.dataToSend(), [], 'no Close before the shell fails the connection');
          assert.equal(protocol.state, ReadyState.OPEN);
          assert.equal(protocol.closeExpected, false);
          assert.equal(protocol.failure, null);
        });

        it(`sends the answer to the message before ${what} ahead of the Close`, () => {
          const protocol = newProtocol(side);
          protocol.receiveData(concat(peerFrame(side, { opcode: Opcode.TEXT, payload: 'Hello' }), violation(side)));
          const [message, failure] = protocol.eventsReceived() as [ProtocolEvent & { data: Buffer }, ProtocolEvent & { error: ProtocolError }];
          protocol.sendMessage(message.data, false);
          protocol.fail(failure.error);
          const frames = sent(protocol);
          assert.deepEqual(frames.map((f) => f.opcode), [Opcode.TEXT, Opcode.CLOSE]);
          assert.equal(frames[0]!.payload.toString(), 'Hello');
          assert.equal(frames[1]!.payload.readUInt16BE(0), closeCode);
          assert.equal(protocol.closeExpected, true);
        });
      }

      it('stops parsing at the violation: nothing after it is reported, in this read or later', () => {
        const protocol = newProtocol(side);
        const text = (payload: string) => peerFrame(side, { opcode: Opcode.TEXT, payload });
        protocol.receiveData(concat(text('before'), peerFrame(side, { opcode: 0x3 }), text('after'), peerFrame(side, { opcode: Opcode.PING })));
        assert.deepEqual(types(protocol.eventsReceived()), ['message', 'error']);
        protocol.receiveData(text('later'));
        assert.deepEqual(protocol.eventsReceived(), []);
        assert.deepEqual(protocol.dataToSend(), [], 'no Pong for a Ping after the violation');
      });

      it('turns anything else thrown while parsing into a 1011 error event, and its Close withholds the details', () => {
        const protocol = newProtocol(side);
        const fault = new Error('a bug with private details');
        // Fault injection: the sink throws something that is not a ProtocolError.
        (protocol as unknown as { onMessage(): void }).onMessage = () => {
          throw fault;
        };
        protocol.receiveData(concat(peerFrame(side, { opcode: Opcode.PING, payload: 'p' }), peerFrame(side, { opcode: Opcode.TEXT, payload: 'x' })));
        const events = protocol.eventsReceived();
        assert.deepEqual(types(events), ['ping', 'error']);
        const { error } = events[1] as { error: ProtocolError };
        assert.equal(error.code, 'HL_ERR_INTERNAL');
        assert.equal(error.closeCode, 1011);
        assert.equal(error.cause, fault);
        protocol.fail(error);
        const frames = sent(protocol);
        assert.deepEqual(frames.map((f) => f.opcode), [Opcode.PONG, Opcode.CLOSE]);
        assert.deepEqual(frames[1]!.payload, closePayload(1011));
      });
    });
  }
});

describe('Protocol: bytes held for incomplete frames and messages', () => {
  for (const side of SIDES) {
    describe(`${side} side`, () => {
      it('holds nothing between messages', () => {
        const protocol = newProtocol(side);
        assert.equal(protocol.partialBytes, 0);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'whole' }));
        assert.equal(protocol.partialBytes, 0);
      });

      it('counts the payload bytes of a frame not yet whole, buffered or assembled', () => {
        for (const size of [1000, 200_000]) {
          const protocol = newProtocol(side);
          const bytes = peerFrame(side, { opcode: Opcode.BINARY, payload: Buffer.alloc(size, 1) });
          protocol.receiveData(bytes.subarray(0, 3));
          assert.ok(protocol.partialBytes <= 3, `${size}: part of a header`);
          protocol.receiveData(bytes.subarray(3, bytes.length - 10));
          // The header is read and gone; what is held is the payload so far.
          assert.equal(protocol.partialBytes, size - 10, `${size}: all but the last 10 bytes`);
          protocol.receiveData(bytes.subarray(bytes.length - 10));
          assert.equal(protocol.partialBytes, 0, `${size}: whole`);
          assert.deepEqual(types(protocol.eventsReceived()), ['message']);
        }
      });

      it('counts the fragments of a message being reassembled (§5.4)', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'x'.repeat(300), fin: false }));
        assert.equal(protocol.partialBytes, 300);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'y'.repeat(200), fin: false }));
        assert.equal(protocol.partialBytes, 500);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.CONTINUATION, payload: 'z' }));
        assert.equal(protocol.partialBytes, 0);
      });

      it('stops parsing on stopReceiving, keeping the events already parsed and freeing what it held', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(concat(peerFrame(side, { opcode: Opcode.TEXT, payload: 'kept' }), peerFrame(side, { opcode: Opcode.BINARY, payload: Buffer.alloc(500) }).subarray(0, 100)));
        assert.ok(protocol.partialBytes > 0);
        protocol.stopReceiving();
        assert.equal(protocol.partialBytes, 0);
        assert.deepEqual(types(protocol.eventsReceived()), ['message']);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.PING }));
        assert.deepEqual(protocol.eventsReceived(), []);
        assert.deepEqual(protocol.dataToSend(), [], 'nothing answered after it');
        assert.equal(protocol.state, ReadyState.OPEN, 'still open: the shell fails it when it is ready');
      });

      it('holds nothing once failed', () => {
        const protocol = newProtocol(side);
        protocol.receiveData(peerFrame(side, { opcode: Opcode.TEXT, payload: 'x'.repeat(300), fin: false }));
        protocol.fail(new ProtocolError('HL_ERR_PARTIAL_BYTES', 1013, 'server busy'));
        assert.equal(protocol.partialBytes, 0);
      });
    });
  }
});

describe('encodeClosePayload', () => {
  it('writes the code big-endian and the reason in UTF-8', () => {
    assert.deepEqual(encodeClosePayload(1000, ''), hex('03 e8'));
    assert.deepEqual(encodeClosePayload(4999, 'é'), hex('13 87 c3 a9'));
    assert.deepEqual(encodeClosePayload(1005, ''), Buffer.alloc(0));
  });
});

describe('truncateReason', () => {
  it('leaves a reason of 123 bytes alone', () => {
    assert.equal(truncateReason('x'.repeat(123)), 'x'.repeat(123));
  });

  it('cuts on a character boundary, never inside a multi-byte character', () => {
    assert.equal(truncateReason('€'.repeat(50)), '€'.repeat(41));
    assert.equal(truncateReason('x'.repeat(122) + '€'), 'x'.repeat(122));
  });

  // Regression: cutting by UTF-16 code units could leave half a surrogate pair at the end,
  // which goes out as U+FFFD instead of being dropped.
  it('never leaves half of a surrogate pair', () => {
    for (let prefix = 110; prefix <= 124; prefix++) {
      const reason = truncateReason('x'.repeat(prefix) + '😀'.repeat(10));
      assert.ok(Buffer.byteLength(reason) <= 123, `prefix ${prefix}`);
      assert.ok(Buffer.from(reason).toString() === reason, `prefix ${prefix}: ${JSON.stringify(reason.slice(-2))}`);
      assert.ok(!/[\ud800-\udbff]$/.test(reason), `prefix ${prefix}`);
    }
  });
});
