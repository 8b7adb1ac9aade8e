import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/utf8.js';
import { hex, prng, randomBytes, randomInt } from '../support/bytes.js';

/** Feeds `pieces` in turn; valid when every write passes and the end is on a boundary. */
function validate(pieces: readonly Uint8Array[]): boolean {
  const validator = new Utf8Validator();
  for (const piece of pieces) if (!validator.write(piece)) return false;
  return validator.complete;
}

/**
 * Whether some continuation makes `prefix` valid UTF-8. A truncated sequence needs at most
 * three more bytes, and 80, 90 and A0 are enough to satisfy every second-byte range of
 * RFC 3629 (80-BF, A0-BF after E0, 80-9F after ED, 90-BF after F0, 80-8F after F4).
 */
function viable(prefix: Buffer): boolean {
  if (isUtf8(prefix)) return true;
  const candidates = [0x80, 0x90, 0xa0];
  for (const a of candidates) {
    if (isUtf8(Buffer.concat([prefix, Buffer.from([a])]))) return true;
    for (const b of candidates) {
      if (isUtf8(Buffer.concat([prefix, Buffer.from([a, b])]))) return true;
      for (const c of candidates) if (isUtf8(Buffer.concat([prefix, Buffer.from([a, b, c])]))) return true;
    }
  }
  return false;
}

const VALID = [
  '',
  '41',                 // "A"
  '48 65 6c 6c 6f',     // "Hello"
  'c2 80',              // U+0080, smallest 2-byte
  'df bf',              // U+07FF, largest 2-byte
  'e0 a0 80',           // U+0800, smallest 3-byte
  'e2 82 ac',           // U+20AC "€"
  'ed 9f bf',           // U+D7FF, just below the surrogates
  'ee 80 80',           // U+E000, just above the surrogates
  'ef bf bf',           // U+FFFF
  'f0 90 80 80',        // U+10000, smallest 4-byte
  'f0 9d 84 9e',        // U+1D11E "𝄞"
  'f4 8f bf bf',        // U+10FFFF, the largest code point
  'ce ba e1 bd b9 cf 83 ce bc ce b5', // "κόσμε"
];

const INVALID = [
  '80',                 // lone continuation byte
  'bf',
  'c0 80',              // overlong NUL
  'c1 bf',              // overlong 2-byte
  'e0 80 80',           // overlong 3-byte
  'e0 9f bf',           // overlong U+07FF
  'ed a0 80',           // U+D800, a surrogate
  'ed bf bf',           // U+DFFF, a surrogate
  'f0 80 80 80',        // overlong 4-byte
  'f0 8f bf bf',        // overlong U+FFFF
  'f4 90 80 80',        // U+110000, above U+10FFFF
  'f5 80 80 80',        // F5 never appears
  'f8 88 80 80 80',     // 5-byte form
  'fe',
  'ff',
  'c2',                 // truncated 2-byte
  'e2 82',              // truncated 3-byte
  'f0 9d 84',           // truncated 4-byte
  'c2 41',              // continuation replaced by ASCII
  'e2 28 a1',
  'e2 82 ac 80',        // one continuation too many
  '48 65 6c 6c 6f ed a0 80 77', // surrogate after text
];

/** Random UTF-8 built from code points of every length, sometimes corrupted. */
function randomText(random: () => number): Buffer {
  const parts: string[] = [];
  const count = randomInt(random, 0, 12);
  for (let i = 0; i < count; i++) {
    const kind = randomInt(random, 0, 3);
    const codePoint =
      kind === 0 ? randomInt(random, 0, 0x7f)
      : kind === 1 ? randomInt(random, 0x80, 0x7ff)
      : kind === 2 ? randomInt(random, 0x800, 0xffff)
      : randomInt(random, 0x10000, 0x10ffff);
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue;
    parts.push(String.fromCodePoint(codePoint));
  }
  const bytes = Buffer.from(parts.join(''));
  if (bytes.length > 0 && random() < 0.5) bytes[randomInt(random, 0, bytes.length - 1)] = randomInt(random, 0x80, 0xff);
  return bytes;
}

function corpus(): Buffer[] {
  const random = prng(3629);
  const inputs = [...VALID, ...INVALID].map((text) => hex(text));
  for (const text of [...VALID, ...INVALID]) inputs.push(Buffer.concat([Buffer.from('ab'), hex(text), Buffer.from('cd')]));
  for (let i = 0; i < 300; i++) inputs.push(randomText(random));
  for (let i = 0; i < 100; i++) inputs.push(randomBytes(random, randomInt(random, 0, 12)));
  return inputs;
}

describe('Utf8Validator', () => {
  it('agrees with buffer.isUtf8 on the crafted cases', () => {
    for (const text of VALID) assert.equal(validate([hex(text)]), true, text);
    for (const text of INVALID) assert.equal(validate([hex(text)]), false, text);
  });

  it('agrees with buffer.isUtf8 on every input split at every position', () => {
    for (const input of corpus()) {
      const expected = isUtf8(input);
      assert.equal(validate([input]), expected, `whole ${input.toString('hex')}`);
      for (let cut = 0; cut <= input.length; cut++) {
        assert.equal(validate([input.subarray(0, cut), input.subarray(cut)]), expected, `${input.toString('hex')} cut at ${cut}`);
      }
    }
  });

  it('agrees with buffer.isUtf8 on every input split at every pair of positions', () => {
    for (const input of corpus().filter((b) => b.length <= 24)) {
      const expected = isUtf8(input);
      for (let a = 0; a <= input.length; a++) {
        for (let b = a; b <= input.length; b++) {
          const pieces = [input.subarray(0, a), input.subarray(a, b), input.subarray(b)];
          assert.equal(validate(pieces), expected, `${input.toString('hex')} cut at ${a}, ${b}`);
        }
      }
    }
  });

  it('agrees with buffer.isUtf8 on long inputs cut inside multi-byte sequences', () => {
    const random = prng(42);
    for (let i = 0; i < 40; i++) {
      const input = Buffer.from('a€𝄞κ'.repeat(randomInt(random, 10, 60)));
      if (i % 2 === 1) input[randomInt(random, 0, input.length - 1)] = randomInt(random, 0x80, 0xff);
      const expected = isUtf8(input);
      for (let cut = 0; cut <= input.length; cut += randomInt(random, 1, 7)) {
        assert.equal(validate([input.subarray(0, cut), input.subarray(cut)]), expected);
      }
    }
  });

  it('fails at the first byte that no continuation can make valid', () => {
    for (const input of corpus()) {
      const validator = new Utf8Validator();
      let failedAt = -1;
      for (let i = 0; i < input.length; i++) {
        if (!validator.write(input, i, i + 1)) {
          failedAt = i;
          break;
        }
      }
      let firstDead = -1;
      for (let i = 0; i < input.length; i++) {
        if (!viable(input.subarray(0, i + 1))) {
          firstDead = i;
          break;
        }
      }
      assert.equal(failedAt, firstDead, input.toString('hex'));
    }
  });

  it('fails a piece as soon as it holds an impossible byte, even with more to come', () => {
    for (const text of ['ed a0', 'f4 90', 'e0 80', 'f0 80', 'c0', 'f5', '41 ff 41']) {
      assert.equal(new Utf8Validator().write(hex(text)), false, text);
    }
  });

  it('validates only the [start, end) range it is given', () => {
    const data = hex('ff 48 69 ff');
    assert.equal(new Utf8Validator().write(data, 1, 3), true);
    assert.equal(new Utf8Validator().write(data, 0, 3), false);
  });

  it('is complete initially, not in the middle of a sequence, again at its end, and after reset', () => {
    const validator = new Utf8Validator();
    assert.equal(validator.complete, true);
    assert.equal(validator.write(hex('41 e2')), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.write(hex('82')), true);
    assert.equal(validator.complete, false);
    assert.equal(validator.write(hex('ac')), true);
    assert.equal(validator.complete, true);
    assert.equal(validator.write(hex('f0 9d')), true);
    assert.equal(validator.complete, false);
    validator.reset();
    assert.equal(validator.complete, true);
    // After a reset, the lead byte written before is forgotten: a lone continuation is invalid.
    assert.equal(validator.write(hex('84')), false);
  });

  it('keeps the narrowed second-byte range across a cut (E0, ED, F0, F4)', () => {
    for (const [lead, bad, good] of [
      ['e0', '9f', 'a0'],
      ['ed', 'a0', '9f'],
      ['f0', '8f', '90'],
      ['f4', '90', '8f'],
    ] as const) {
      const failing = new Utf8Validator();
      assert.equal(failing.write(hex(lead)), true);
      assert.equal(failing.write(hex(bad)), false, `${lead} then ${bad}`);
      const passing = new Utf8Validator();
      assert.equal(passing.write(hex(lead)), true);
      assert.equal(passing.write(hex(good)), true, `${lead} then ${good}`);
      assert.equal(passing.complete, false);
    }
  });
});

describe('isValidUtf8', () => {
  it('accepts valid and refuses invalid whole messages', () => {
    for (const text of VALID) assert.equal(isValidUtf8(hex(text)), true, text);
    for (const text of INVALID) assert.equal(isValidUtf8(hex(text)), false, text);
  });
});
