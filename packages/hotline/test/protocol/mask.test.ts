import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  SMALL,
  applyMask as applyMaskDispatch,
  applyMaskJs,
  maskImplementation,
  unmaskSmallIsAscii,
} from '../../src/protocol/mask.js';
import { hex, naiveMask, prng, randomBytes } from '../support/bytes.js';

const MASK = hex('37 fa 21 3d');

/** `length` random bytes inside a larger ArrayBuffer, starting at `byteOffset`. */
function placed(random: () => number, byteOffset: number, length: number): Uint8Array {
  const backing = new Uint8Array(new ArrayBuffer(byteOffset + length + 8));
  backing.set(randomBytes(random, backing.length));
  return backing.subarray(byteOffset, byteOffset + length);
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

for (const [name, applyMask] of [
  ['applyMask', applyMaskDispatch],
  ['applyMask, JavaScript path', applyMaskJs],
] as const) describe(name, () => {
  it('unmasks the RFC 6455 §5.7 "Hello" example', () => {
    const data = hex('7f 9f 4d 51 58');
    applyMask(data, MASK);
    assert.equal(data.toString(), 'Hello');
  });

  it('matches a byte-by-byte loop for every length 0..140, mask offset 0..3 and byteOffset 0..7', () => {
    const random = prng(6455);
    for (let length = 0; length <= 140; length++) {
      for (let offset = 0; offset < 4; offset++) {
        for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
          const data = placed(random, byteOffset, length);
          const expected = naiveMask(data, MASK, offset);
          applyMask(data, MASK, 0, length, offset);
          assert.deepEqual(Buffer.from(data), expected, `length ${length}, offset ${offset}, byteOffset ${byteOffset}`);
        }
      }
    }
  });

  it('masks only [start, end) and leaves the bytes around it alone', () => {
    const random = prng(7);
    for (let start = 0; start < 9; start++) {
      for (const length of [0, 1, 3, 31, 32, 33, 64, 100]) {
        for (let offset = 0; offset < 4; offset++) {
          const data = placed(random, start % 4, start + length + 5);
          const before = Buffer.from(data);
          applyMask(data, MASK, start, start + length, offset);
          const expected = Buffer.concat([
            before.subarray(0, start),
            naiveMask(before.subarray(start, start + length), MASK, offset),
            before.subarray(start + length),
          ]);
          assert.deepEqual(Buffer.from(data), expected, `start ${start}, length ${length}, offset ${offset}`);
        }
      }
    }
  });

  it('matches a byte-by-byte loop on large misaligned buffers', () => {
    const random = prng(99);
    for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
      // Past the SIMD scratch size (64 KiB), a payload is masked in several slices.
      for (const length of [64, 65, 1000, 4097, 65536, 65536 + 3, 2 * 65536 + 7]) {
        const data = placed(random, byteOffset, length);
        const expected = naiveMask(data, MASK, byteOffset);
        applyMask(data, MASK, 0, length, byteOffset);
        assert.deepEqual(Buffer.from(data), expected);
      }
    }
  });

  it('gives the same result whether a payload is masked whole or piece by piece', () => {
    const random = prng(3);
    const payload = randomBytes(random, 257);
    const expected = naiveMask(payload, MASK);
    for (let cut = 0; cut <= payload.length; cut++) {
      const data = Buffer.from(payload);
      applyMask(data, MASK, 0, cut, 0);
      applyMask(data, MASK, cut, data.length, cut);
      assert.deepEqual(data, expected, `cut at ${cut}`);
    }
  });

  it('is its own inverse', () => {
    const data = randomBytes(prng(1), 1000);
    const original = Buffer.from(data);
    applyMask(data, MASK);
    assert.notDeepEqual(data, original);
    applyMask(data, MASK);
    assert.deepEqual(data, original);
  });

  it('does nothing with the zero key', () => {
    const data = randomBytes(prng(2), 100);
    const original = Buffer.from(data);
    applyMask(data, hex('00 00 00 00'));
    assert.deepEqual(data, original);
  });
});

describe('the SIMD masking module', () => {
  it('is what this Node uses', () => {
    // Node 20 has WebAssembly SIMD; a silent fallback to JavaScript would cost 3-5x.
    assert.equal(maskImplementation, 'simd');
  });

  it('masks a 64 KiB slice boundary at every key offset and alignment', () => {
    const random = prng(11);
    for (let offset = 0; offset < 4; offset++) {
      for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
        const data = placed(random, byteOffset, 65536 + 130);
        const expected = naiveMask(data.subarray(61, 65536 + 129), MASK, offset);
        const before = Buffer.from(data);
        applyMaskDispatch(data, MASK, 61, 65536 + 129, offset);
        assert.deepEqual(Buffer.from(data.subarray(61, 65536 + 129)), expected);
        assert.deepEqual(Buffer.from(data.subarray(0, 61)), before.subarray(0, 61));
        assert.deepEqual(Buffer.from(data.subarray(65536 + 129)), before.subarray(65536 + 129));
      }
    }
  });

  it('is generated from mask.wat (src/protocol/mask-wasm.ts is up to date)', async () => {
    const script = `${ROOT}scripts/build-mask-wasm.mjs`;
    const { compileMaskWasm, render } = (await import(script)) as {
      compileMaskWasm(): Promise<Buffer>;
      render(bytes: Buffer): string;
    };
    const committed = readFileSync(`${ROOT}src/protocol/mask-wasm.ts`, 'utf8');
    assert.equal(committed, render(await compileMaskWasm()), 'run node scripts/build-mask-wasm.mjs');
  });

  it('falls back to JavaScript where WebAssembly is off (--jitless), with the same results', () => {
    const program = `
      import { applyMask, maskImplementation } from ${JSON.stringify(`${ROOT}dist/src/protocol/mask.js`)};
      const data = Buffer.alloc(1000, 0x5a);
      applyMask(data, Buffer.from([0x37, 0xfa, 0x21, 0x3d]), 0, 1000, 1);
      process.stdout.write(maskImplementation + ' ' + data.toString('hex'));
    `;
    const output = execFileSync(process.execPath, ['--jitless', '--no-warnings', '--input-type=module', '-e', program], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [implementation, hexBytes] = output.split(' ');
    assert.equal(implementation, 'js');
    assert.deepEqual(Buffer.from(hexBytes!, 'hex'), naiveMask(Buffer.alloc(1000, 0x5a), MASK, 1));
  });
});

describe('unmaskSmallIsAscii', () => {
  it('unmasks like applyMask and tells whether every unmasked byte is ASCII', () => {
    const random = prng(21);
    for (let length = 0; length < SMALL; length++) {
      for (let offset = 0; offset < 4; offset++) {
        // Plain ASCII, then the same with one byte >= 0x80 at each end and in the middle.
        for (const high of [-1, 0, length >> 1, length - 1]) {
          if (high >= length) continue;
          const plain = Buffer.from(Array.from({ length }, () => Math.floor(random() * 0x80)));
          if (high >= 0) plain[high] = 0x80 + Math.floor(random() * 0x80);
          const data = naiveMask(plain, MASK, offset);
          const ascii = unmaskSmallIsAscii(data, MASK, 0, length, offset);
          assert.deepEqual(Buffer.from(data), plain);
          assert.equal(ascii, high < 0, `length ${length}, offset ${offset}, high byte at ${high}`);
        }
      }
    }
  });
});
