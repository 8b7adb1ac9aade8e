import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COPY_THRESHOLD,
  encodeFrame,
  encodeFrameContiguous,
  headerLength,
  randomMask,
  writeHeader,
} from '../../src/protocol/frame-encoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { concat, decodeFrames, hex, prng, randomBytes } from '../support/bytes.js';

const MASK = hex('37 fa 21 3d');
const UNMASKED = { fin: true, rsv1: false, mask: null } as const;
const MASKED = { fin: true, rsv1: false, mask: MASK } as const;

function single(encoded: Buffer | [Buffer, Uint8Array]): Buffer {
  assert.ok(Buffer.isBuffer(encoded), 'expected one buffer');
  return encoded;
}

describe('encodeFrame: the RFC 6455 §5.7 examples, byte for byte', () => {
  it('encodes a single-frame unmasked text message', () => {
    assert.deepEqual(
      single(encodeFrame(Opcode.TEXT, Buffer.from('Hello'), UNMASKED)),
      hex(`81              // FIN, opcode 1 (text)
           05              // unmasked, length 5
           48 65 6c 6c 6f  // "Hello"`),
    );
  });

  it('encodes a single-frame masked text message', () => {
    assert.deepEqual(
      single(encodeFrame(Opcode.TEXT, Buffer.from('Hello'), MASKED)),
      hex(`81              // FIN, opcode 1 (text)
           85              // masked, length 5
           37 fa 21 3d     // masking key
           7f 9f 4d 51 58  // "Hello" XOR key`),
    );
  });

  it('encodes a fragmented unmasked text message', () => {
    assert.deepEqual(
      single(encodeFrame(Opcode.TEXT, Buffer.from('Hel'), { ...UNMASKED, fin: false })),
      hex(`01              // no FIN, opcode 1 (text)
           03              // unmasked, length 3
           48 65 6c        // "Hel"`),
    );
    assert.deepEqual(
      single(encodeFrame(Opcode.CONTINUATION, Buffer.from('lo'), UNMASKED)),
      hex(`80              // FIN, opcode 0 (continuation)
           02              // unmasked, length 2
           6c 6f           // "lo"`),
    );
  });

  it('encodes an unmasked ping and a masked pong', () => {
    assert.deepEqual(
      single(encodeFrame(Opcode.PING, Buffer.from('Hello'), UNMASKED)),
      hex(`89              // FIN, opcode 9 (ping)
           05              // unmasked, length 5
           48 65 6c 6c 6f  // "Hello"`),
    );
    assert.deepEqual(
      single(encodeFrame(Opcode.PONG, Buffer.from('Hello'), MASKED)),
      hex(`8a              // FIN, opcode A (pong)
           85              // masked, length 5
           37 fa 21 3d     // masking key
           7f 9f 4d 51 58  // "Hello" XOR key`),
    );
  });

  it('encodes 256 bytes of binary with a 16-bit length', () => {
    const payload = randomBytes(prng(1), 256);
    assert.deepEqual(
      single(encodeFrame(Opcode.BINARY, payload, UNMASKED)),
      concat(
        hex(`82              // FIN, opcode 2 (binary)
             7e              // unmasked, 16-bit length follows
             01 00           // 256`),
        payload,
      ),
    );
  });

  it('encodes 64 KiB of binary with a 64-bit length, header and payload apart', () => {
    const payload = randomBytes(prng(2), 65536);
    const encoded = encodeFrame(Opcode.BINARY, payload, UNMASKED);
    assert.ok(Array.isArray(encoded));
    assert.deepEqual(
      encoded[0],
      hex(`82                        // FIN, opcode 2 (binary)
           7f                        // unmasked, 64-bit length follows
           00 00 00 00 00 01 00 00   // 65536`),
    );
    assert.equal(encoded[1], payload, 'the payload is not copied');
  });
});

describe('encodeFrame: headers', () => {
  const boundaries = [0, 1, 125, 126, 127, 65535, 65536, 65537, 100_000];

  it('uses the 7-bit, 16-bit and 64-bit length forms at 125/126 and 65535/65536', () => {
    const expectedSecondByte = (length: number): number => (length < 126 ? length : length < 65536 ? 126 : 127);
    for (const length of boundaries) {
      for (const mask of [null, MASK]) {
        const payload = randomBytes(prng(length), length);
        const frame = encodeFrameContiguous(Opcode.BINARY, payload, { fin: true, rsv1: false, mask });
        assert.equal(frame.length, headerLength(length, mask !== null) + length);
        assert.equal(frame[1]! & 0x7f, expectedSecondByte(length), `length ${length}`);
        assert.equal((frame[1]! & 0x80) !== 0, mask !== null);
        const [decoded, ...rest] = decodeFrames(frame);
        assert.equal(rest.length, 0);
        assert.deepEqual(decoded, { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.BINARY, mask: mask && Buffer.from(mask), payload });
      }
    }
  });

  it('gives header lengths of 2/4/10 bytes, plus 4 when masked', () => {
    assert.deepEqual(
      boundaries.map((n) => [headerLength(n, false), headerLength(n, true)]),
      [[2, 6], [2, 6], [2, 6], [4, 8], [4, 8], [4, 8], [10, 14], [10, 14], [10, 14]],
    );
  });

  it('writes a 64-bit length beyond 32 bits', () => {
    const header = Buffer.alloc(10);
    assert.equal(writeHeader(header, 0, Opcode.BINARY, 2 ** 32 + 5, true, false, null), 10);
    assert.deepEqual(header, hex('82 7f 00 00 00 01 00 00 00 05'));
  });

  it('writes a header at an offset and returns where it ends', () => {
    const target = Buffer.alloc(12, 0xee);
    assert.equal(writeHeader(target, 3, Opcode.TEXT, 300, false, true, MASK), 11);
    assert.deepEqual(target, hex(`ee ee ee    // untouched
                                   41          // no FIN, RSV1, opcode 1
                                   fe 01 2c    // masked, 16-bit length 300
                                   37 fa 21 3d // masking key
                                   ee`));
  });

  it('sets FIN and RSV1 as asked and nothing else', () => {
    for (const fin of [false, true]) {
      for (const rsv1 of [false, true]) {
        const [frame] = decodeFrames(single(encodeFrame(Opcode.TEXT, Buffer.from('x'), { fin, rsv1, mask: null })));
        assert.deepEqual([frame!.fin, frame!.rsv1, frame!.rsv2, frame!.rsv3], [fin, rsv1, false, false]);
      }
    }
  });
});

describe('encodeFrame: copies', () => {
  it('copies unmasked payloads up to COPY_THRESHOLD and hands larger ones over as [header, payload]', () => {
    const small = Buffer.alloc(COPY_THRESHOLD, 1);
    const large = Buffer.alloc(COPY_THRESHOLD + 1, 2);
    assert.ok(Buffer.isBuffer(encodeFrame(Opcode.BINARY, small, UNMASKED)));
    const encoded = encodeFrame(Opcode.BINARY, large, UNMASKED);
    assert.ok(Array.isArray(encoded));
    assert.equal(encoded[1], large);
    assert.deepEqual(concat(encoded[0], encoded[1]), encodeFrameContiguous(Opcode.BINARY, large, UNMASKED));
  });

  it('always copies masked payloads into one buffer and leaves the caller\'s bytes intact', () => {
    const payload = randomBytes(prng(5), COPY_THRESHOLD * 4);
    const original = Buffer.from(payload);
    const frame = single(encodeFrame(Opcode.BINARY, payload, MASKED));
    assert.deepEqual(payload, original);
    assert.deepEqual(decodeFrames(frame)[0]!.payload, original);
  });

  it('masks payloads at any alignment of the output buffer', () => {
    // Small Buffer.allocUnsafe results come from a shared pool at varying offsets.
    for (let length = 0; length < 80; length++) {
      const payload = randomBytes(prng(length), length);
      const frame = single(encodeFrame(Opcode.BINARY, payload, MASKED));
      assert.deepEqual(decodeFrames(frame)[0]!.payload, payload, `length ${length}`);
    }
  });
});

describe('randomMask', () => {
  it('returns 4-byte keys that differ from one call to the next', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const mask = randomMask();
      assert.equal(mask.length, 4);
      seen.add(Buffer.from(mask).toString('hex'));
    }
    // 5000 draws from 2^32: a repeat or two is possible, a constant key is not.
    assert.ok(seen.size > 4990);
  });

  it('keeps a key unchanged after its pool is refilled', () => {
    const mask = randomMask();
    const copy = Buffer.from(mask);
    for (let i = 0; i < 3 * 2048; i++) randomMask();
    assert.deepEqual(Buffer.from(mask), copy);
  });
});
