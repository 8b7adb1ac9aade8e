/**
 * Property tests of the frame layer, with a seeded PRNG so that a failure replays: the
 * seed and iteration are in every assertion message.
 *
 * 1. Random valid traffic (messages, fragments cut anywhere, even inside UTF-8 characters,
 *    control frames between fragments, a final Close) sent by one side's Protocol, cut into
 *    random chunks, and read by the other side's Protocol gives back exactly what was sent.
 * 2. Random and mutated bytes never throw out of `receiveData`: at worst they fail the
 *    connection with 1002, 1007 or 1009, and what was delivered before is well-formed.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../src/errors.js';
import { isValidCloseCode } from '../../src/protocol/close-code.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { Protocol, type ProtocolEvent } from '../../src/protocol/protocol.js';
import { Side } from '../../src/protocol/side.js';
import { ReadyState } from '../../src/protocol/ready-state.js';
import {
  bytewise,
  concat,
  decodeFrames,
  frame,
  joinChunks,
  prng,
  randomBytes,
  randomInt,
  randomSplit,
} from '../support/bytes.js';

const SIDES = [Side.SERVER, Side.CLIENT] as const;
const SEED = 0x6455;

function other(side: Side): Side {
  return side === Side.SERVER ? Side.CLIENT : Side.SERVER;
}

type Seen =
  | { type: 'message'; data: string; binary: boolean; compressed: boolean }
  | { type: 'ping' | 'pong'; data: string }
  | { type: 'close'; code: number; reason: string };

function seen(event: ProtocolEvent): Seen {
  switch (event.type) {
    case 'message':
      return { type: 'message', data: event.data.toString('hex'), binary: event.binary, compressed: event.compressed };
    case 'ping':
    case 'pong':
      return { type: event.type, data: event.data.toString('hex') };
    case 'close':
      return { type: 'close', code: event.code, reason: event.reason };
    case 'error':
      throw new Error(`unexpected failure ${event.error.code}: ${event.error.message}`);
  }
}

/** Valid UTF-8 from code points of every length. */
function randomText(random: () => number, maxChars: number): Buffer {
  let text = '';
  const count = randomInt(random, 0, maxChars);
  for (let i = 0; i < count; i++) {
    const kind = randomInt(random, 0, 3);
    let codePoint =
      kind === 0 ? randomInt(random, 0x20, 0x7e)
      : kind === 1 ? randomInt(random, 0x80, 0x7ff)
      : kind === 2 ? randomInt(random, 0x800, 0xffff)
      : randomInt(random, 0x10000, 0x10ffff);
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) codePoint = 0x41;
    text += String.fromCodePoint(codePoint);
  }
  return Buffer.from(text);
}

function randomPayloadLength(random: () => number): number {
  const roll = random();
  if (roll < 0.6) return randomInt(random, 0, 40);
  if (roll < 0.9) return randomInt(random, 100, 300);
  if (roll < 0.99) return randomInt(random, 65530, 65540);
  return randomInt(random, 70_000, 200_000);
}

/** Cuts `data` into `count` fragments at random places (empty fragments included). */
function fragments(random: () => number, data: Buffer, count: number): Buffer[] {
  const cuts = Array.from({ length: count - 1 }, () => randomInt(random, 0, data.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    out.push(data.subarray(start, cut));
    start = cut;
  }
  out.push(data.subarray(start));
  return out;
}

/**
 * One random conversation sent by `sender`: returns what the receiver should report and
 * how many pings it must answer.
 */
function sendRandomTraffic(random: () => number, sender: Protocol, compression: boolean): { expected: Seen[]; pings: string[] } {
  const expected: Seen[] = [];
  const pings: string[] = [];
  const control = (): void => {
    const payload = randomBytes(random, randomInt(random, 0, 125));
    if (random() < 0.5) {
      sender.sendPing(payload);
      expected.push({ type: 'ping', data: payload.toString('hex') });
      pings.push(payload.toString('hex'));
    } else {
      sender.sendPong(payload);
      expected.push({ type: 'pong', data: payload.toString('hex') });
    }
  };
  const messages = randomInt(random, 0, 6);
  for (let m = 0; m < messages; m++) {
    if (random() < 0.2) control();
    const binary = random() < 0.5;
    const compressed = compression && random() < 0.3;
    // A compressed payload is opaque here: even "text" may hold any byte.
    const data = binary || compressed ? randomBytes(random, randomPayloadLength(random)) : randomText(random, randomPayloadLength(random) / 2);
    const message: Seen = { type: 'message', data: data.toString('hex'), binary, compressed };
    if (random() < 0.5) {
      sender.sendMessage(data, binary, compressed);
      expected.push(message);
    } else {
      const parts = fragments(random, data, randomInt(random, 1, 6));
      parts.forEach((part, index) => {
        const fin = index === parts.length - 1;
        sender.sendFragment(part, binary, fin, compressed);
        if (fin) expected.push(message);
        if (random() < 0.3) control();
      });
    }
  }
  if (random() < 0.5) {
    const code = [1000, 1001, 1003, 1008, 1011, 3000, 4000, 4999][randomInt(random, 0, 7)]!;
    const reason = randomText(random, 20).toString();
    const fits = Buffer.byteLength(reason) <= 123 ? reason : '';
    sender.sendClose(code, fits);
    expected.push({ type: 'close', code, reason: fits });
  }
  return { expected, pings };
}

describe('fuzz: random valid traffic round-trips through encoder, chunking and parser', () => {
  for (const receiverSide of SIDES) {
    it(`${receiverSide} reads back everything its peer sent, in random chunks`, { timeout: 20_000 }, () => {
      const random = prng(SEED + (receiverSide === Side.SERVER ? 1 : 2));
      const maskRandom = prng(SEED + 3);
      for (let iteration = 0; iteration < 1500; iteration++) {
        const context = `seed ${SEED}, iteration ${iteration}`;
        const compression = random() < 0.3;
        const sender = new Protocol({
          side: other(receiverSide),
          allowRsv1: compression,
          maskGenerator: () => randomBytes(maskRandom, 4),
        });
        const { expected, pings } = sendRandomTraffic(random, sender, compression);
        const wire = joinChunks(sender.dataToSend());
        const chunks = wire.length < 64 && random() < 0.3 ? bytewise(wire) : randomSplit(wire, random, 24);

        const receiver = new Protocol({ side: receiverSide, allowRsv1: compression });
        const events: Seen[] = [];
        for (const chunk of chunks) {
          receiver.receiveData(chunk);
          for (const event of receiver.eventsReceived()) events.push(seen(event));
        }
        assert.deepEqual(events, expected, context);
        assert.equal(receiver.failure, null, context);

        // Every ping is answered with its payload, and a Close is echoed with its code.
        const answers = decodeFrames(joinChunks(receiver.dataToSend()));
        const pongs = answers.filter((f) => f.opcode === Opcode.PONG).map((f) => f.payload.toString('hex'));
        const closing = expected.at(-1)?.type === 'close';
        assert.deepEqual(pongs, pings, context);
        for (const answer of answers) assert.equal(answer.mask !== null, receiverSide === Side.CLIENT, context);
        assert.equal(answers.filter((f) => f.opcode === Opcode.CLOSE).length, closing ? 1 : 0, context);
        assert.equal(receiver.state, closing ? ReadyState.CLOSED : ReadyState.OPEN, context);
      }
    });
  }
});

/** Random bytes of a few shapes: pure noise, valid frames then noise, valid frames with flipped bits. */
function garbage(random: () => number, side: Side): Buffer {
  const mask = side === Side.SERVER ? randomBytes(random, 4) : null;
  const validFrame = (): Buffer => {
    const opcode = [Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING, Opcode.PONG, Opcode.CLOSE][randomInt(random, 0, 5)]!;
    const payload = opcode === Opcode.TEXT ? randomText(random, 20) : randomBytes(random, randomInt(random, 0, opcode >= 8 ? 125 : 300));
    return frame({ opcode, fin: random() < 0.7, rsv1: random() < 0.05, payload, mask });
  };
  const shape = randomInt(random, 0, 2);
  if (shape === 0) return randomBytes(random, randomInt(random, 0, 300));
  const frames = Array.from({ length: randomInt(random, 1, 5) }, validFrame);
  if (shape === 1) return concat(...frames, randomBytes(random, randomInt(random, 0, 100)));
  const data = concat(...frames);
  const flips = randomInt(random, 1, 4);
  for (let i = 0; i < flips && data.length > 0; i++) data[randomInt(random, 0, data.length - 1)]! ^= 1 << randomInt(random, 0, 7);
  return data;
}

describe('fuzz: garbage never throws out of receiveData', () => {
  for (const side of SIDES) {
    it(`${side} fails bad input with 1002, 1007 or 1009 and delivers only well-formed events before`, { timeout: 20_000 }, () => {
      const random = prng(SEED + (side === Side.SERVER ? 10 : 20));
      let failures = 0;
      const closeCodes = new Set<number>();
      for (let iteration = 0; iteration < 4000; iteration++) {
        const context = `seed ${SEED}, iteration ${iteration}`;
        const maxPayload = random() < 0.5 ? 256 : undefined;
        const allowRsv1 = random() < 0.2;
        const protocol = new Protocol({ side, allowRsv1, ...(maxPayload !== undefined && { maxPayload }), maskGenerator: () => Buffer.from([1, 2, 3, 4]) });
        const input = garbage(random, side);
        const events: ProtocolEvent[] = [];
        for (const chunk of randomSplit(input, random, 12)) {
          assert.doesNotThrow(() => protocol.receiveData(chunk), context);
          const received = protocol.eventsReceived();
          events.push(...received);
          // As a shell does once it reaches the error event.
          for (const event of received) if (event.type === 'error') protocol.fail(event.error);
        }

        const errors = events.filter((e) => e.type === 'error');
        assert.ok(errors.length <= 1, context);
        const sentFrames = decodeFrames(joinChunks(protocol.dataToSend()));
        if (errors.length === 1) {
          failures++;
          const { error } = errors[0] as { error: ProtocolError };
          assert.ok(error instanceof ProtocolError, context);
          assert.ok([1002, 1007, 1009].includes(error.closeCode), `${context}: ${error.code} ${error.closeCode}`);
          closeCodes.add(error.closeCode);
          assert.equal(events.at(-1), errors[0], `${context}: nothing after the failure`);
          assert.equal(protocol.closeExpected, true, context);
          const close = sentFrames.at(-1);
          if (!events.some((e) => e.type === 'close')) {
            assert.equal(close?.opcode, Opcode.CLOSE, context);
            assert.equal(close!.payload.readUInt16BE(0), error.closeCode, context);
          }
        }
        for (const event of events) {
          if (event.type === 'message') {
            assert.ok(event.data.length <= (maxPayload ?? Infinity), context);
            if (!event.binary && !event.compressed) assert.ok(isUtf8(event.data), `${context}: text is valid UTF-8`);
            if (event.compressed) assert.ok(allowRsv1, context);
          } else if (event.type === 'ping' || event.type === 'pong') {
            assert.ok(event.data.length <= 125, context);
          } else if (event.type === 'close') {
            assert.ok(event.code === 1005 || isValidCloseCode(event.code), context);
          }
        }
        // What we answered is well-formed: pongs and at most one Close, masked by a client only.
        assert.ok(sentFrames.filter((f) => f.opcode === Opcode.CLOSE).length <= 1, context);
        for (const f of sentFrames) {
          assert.ok(f.opcode === Opcode.PONG || f.opcode === Opcode.CLOSE, context);
          assert.equal(f.mask !== null, side === Side.CLIENT, context);
        }
      }
      // The generator must actually reach the failure paths, not only the happy one.
      assert.ok(failures > 1000, `only ${failures} failures`);
      assert.deepEqual([...closeCodes].sort(), [1002, 1007, 1009]);
    });
  }
});
