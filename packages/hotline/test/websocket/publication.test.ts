/**
 * A publish's WebSocket frame: built on first use, once, the same bytes for every
 * subscriber (a server never masks, RFC 6455 §5.1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Publication } from '../../src/websocket/publication.js';

describe('Publication', () => {
  it('builds one unmasked, final, uncompressed frame on first use and hands the same buffer after', () => {
    const publication = new Publication('t', Buffer.from('hi'), false, 'e', 1);
    const frame = publication.frame;
    // 81: FIN + Text, RSV1 clear; 02: unmasked, length 2 (RFC 6455 §5.2); "hi".
    assert.equal(frame.toString('hex'), '81026869');
    assert.equal(publication.frame, frame, 'built once');
  });

  it('frames binary data as a Binary message', () => {
    // 82: FIN + Binary; 7e 00 c8: a 16-bit length of 200 (§5.2).
    const frame = new Publication('t', Buffer.alloc(200, 7), true, 'e', 1).frame;
    assert.equal(frame.subarray(0, 4).toString('hex'), '827e00c8');
    assert.equal(frame.length, 4 + 200);
  });

  it('starts with no shared compression', () => {
    assert.equal(new Publication('t', Buffer.from('x'), false, 'e', 1).deflations, undefined);
  });
});
