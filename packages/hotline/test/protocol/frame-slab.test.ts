import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrameContiguous } from '../../src/protocol/frame-encoder.js';
import { FrameRun, SLAB_FRAME_LIMIT, encodeIntoSlab } from '../../src/protocol/frame-slab.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { Protocol } from '../../src/protocol/protocol.js';
import { Side } from '../../src/protocol/side.js';
import { hex, prng, randomBytes } from '../support/bytes.js';

const MASK = hex('37 fa 21 3d');

function expected(payload: Uint8Array, mask: Uint8Array | null = null): Buffer {
  return encodeFrameContiguous(Opcode.BINARY, payload, { fin: true, rsv1: false, mask });
}

describe('encodeIntoSlab', () => {
  it('writes the same bytes as the encoder, masked or not, and extends a run that ends at the free space', () => {
    const random = prng(5);
    const payloads = [0, 1, 125, 126, 1000, SLAB_FRAME_LIMIT - 14].map((n) => randomBytes(random, n));
    for (const mask of [null, MASK]) {
      const first = encodeIntoSlab(null, Opcode.BINARY, payloads[0]!, true, false, mask)!;
      assert.ok(first instanceof FrameRun);
      let run = first;
      const want = [expected(payloads[0]!, mask)];
      for (const payload of payloads.slice(1)) {
        const next = encodeIntoSlab(run, Opcode.BINARY, payload, true, false, mask);
        // A full slab starts a new run; otherwise the frame joins this one.
        if (next !== null) {
          want.length = 0;
          run = next;
        }
        want.push(expected(payload, mask));
      }
      assert.deepEqual(run.take(), Buffer.concat(want));
    }
  });

  it('starts a new run when another connection wrote in between', () => {
    const a = encodeIntoSlab(null, Opcode.TEXT, Buffer.from('a'), true, false, null)!;
    const b = encodeIntoSlab(null, Opcode.TEXT, Buffer.from('b'), true, false, null)!;
    assert.equal(encodeIntoSlab(b, Opcode.TEXT, Buffer.from('d'), true, false, null), null);
    assert.deepEqual(b.take(), hex('81 01 62 81 01 64'));
    const c = encodeIntoSlab(a, Opcode.TEXT, Buffer.from('c'), true, false, null);
    assert.ok(c instanceof FrameRun);
    assert.deepEqual(a.take(), hex('81 01 61'));
    assert.deepEqual(c.take(), hex('81 01 63'));
  });

  it('never writes over bytes already handed out, across slab boundaries', () => {
    const random = prng(8);
    const taken: Array<[Buffer, Buffer]> = [];
    for (let i = 0; i < 200; i++) {
      const payload = randomBytes(random, 1 + Math.floor(random() * 1000));
      const run = encodeIntoSlab(null, Opcode.BINARY, payload, true, false, null)!;
      const slice = run.take();
      taken.push([slice, Buffer.from(slice)]);
    }
    for (const [slice, copy] of taken) assert.deepEqual(slice, copy);
  });
});

describe('Protocol output through the slab', () => {
  it('hands over the small frames queued in a row as one chunk, and large payloads apart', () => {
    const protocol = new Protocol({ side: Side.SERVER });
    for (let i = 0; i < 16; i++) protocol.sendMessage(Buffer.alloc(64, i), false);
    const chunks = protocol.dataToSend();
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.length, 16 * 66);

    const large = Buffer.alloc(SLAB_FRAME_LIMIT, 7);
    protocol.sendMessage(Buffer.from('x'), false);
    protocol.sendMessage(large, true);
    protocol.sendMessage(Buffer.from('y'), false);
    const mixed = protocol.dataToSend();
    assert.equal(mixed.length, 4); // small run, header, payload (not copied), small run
    assert.equal(mixed[2], large);
    assert.deepEqual(
      Buffer.concat(mixed),
      Buffer.concat([hex('81 01 78'), expected(large), hex('81 01 79')]),
    );
  });
});
