import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CLOSE_REASON_BYTES, isValidCloseCode } from '../../src/protocol/close-code.js';

describe('isValidCloseCode', () => {
  it('accepts the codes of RFC 6455 §7.4.1 and the IANA registry that may be sent', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]) {
      assert.equal(isValidCloseCode(code), true, String(code));
    }
  });

  it('accepts the library (3000-3999) and private (4000-4999) ranges of §7.4.2', () => {
    for (const code of [3000, 3999, 4000, 4999]) assert.equal(isValidCloseCode(code), true, String(code));
  });

  it('refuses reserved, reporting-only and out-of-range codes', () => {
    for (const code of [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535]) {
      assert.equal(isValidCloseCode(code), false, String(code));
    }
  });

  it('agrees with the RFC table on every 16-bit value', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const expected =
        (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      assert.equal(isValidCloseCode(code), expected, String(code));
    }
  });

  it('leaves 123 bytes of reason after the 2-byte code in a 125-byte control frame', () => {
    assert.equal(MAX_CLOSE_REASON_BYTES, 123);
  });
});
