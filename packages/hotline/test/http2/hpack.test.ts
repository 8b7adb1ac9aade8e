/**
 * The raw HTTP/2 client's HPACK decoder (test/support/h2-frames.ts), on RFC 7541's own
 * examples: the hostile-input tests read the server's answers through it, so it must be
 * right before they can fail for the right reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hex } from '../support/bytes.js';
import { HpackDecoder, encodeHeaderBlock, encodeInteger, huffmanCodeOf, huffmanDecode } from '../support/h2-frames.js';

describe('HPACK, as the raw HTTP/2 client reads it', () => {
  it('derives the Huffman codes of RFC 7541 Appendix B from their lengths', () => {
    assert.deepEqual(huffmanCodeOf('0'.charCodeAt(0)), { code: 0b00000, length: 5 });
    assert.deepEqual(huffmanCodeOf('a'.charCodeAt(0)), { code: 0b00011, length: 5 });
    assert.deepEqual(huffmanCodeOf(' '.charCodeAt(0)), { code: 0b010100, length: 6 });
    assert.deepEqual(huffmanCodeOf(0), { code: 0x1ff8, length: 13 });
    assert.deepEqual(huffmanCodeOf(256), { code: 0x3fffffff, length: 30 });
  });

  it('decodes the requests of RFC 7541 C.4 (Huffman, then the dynamic table)', () => {
    const decoder = new HpackDecoder();
    // C.4.1: indexed :method GET, :scheme http, :path /; :authority with incremental indexing, Huffman.
    assert.deepEqual(decoder.decode(hex('82 86 84 41 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff')), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    // C.4.2: :authority from the dynamic table (62), cache-control: no-cache indexed.
    assert.deepEqual(decoder.decode(hex('82 86 84 be 58 86 a8 eb 10 64 9c bf')), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
    // C.4.3: a new name and value, both Huffman; :authority is now index 63.
    assert.deepEqual(decoder.decode(hex('82 87 85 bf 40 88 25 a8 49 e9 5b a9 7d 7f 89 25 a8 49 e9 5b b8 e8 b4 bf')), [
      [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value'],
    ]);
  });

  it('refuses bad Huffman padding and an EOS inside a string', () => {
    assert.throws(() => huffmanDecode(hex('00')), /padding/); // '0' then 3 zero bits of padding
    assert.throws(() => huffmanDecode(hex('ff ff ff ff')), /EOS/);
  });

  it('encodes integers with a prefix as RFC 7541 C.1 does', () => {
    assert.deepEqual(encodeInteger(10, 5), [10]); // C.1.1
    assert.deepEqual(encodeInteger(1337, 5), [31, 154, 10]); // C.1.2
    assert.deepEqual(encodeInteger(42, 8), [42]); // C.1.3
  });

  it('writes literal fields without indexing that its own decoder reads back', () => {
    const fields: Array<[string, string]> = [[':status', '426'], ['sec-websocket-version', '13'], ['x-long', 'v'.repeat(300)]];
    const block = encodeHeaderBlock(fields);
    assert.equal(block[0], 0x00, 'RFC 7541 §6.2.2, new name');
    assert.deepEqual(new HpackDecoder().decode(block), fields);
  });
});
