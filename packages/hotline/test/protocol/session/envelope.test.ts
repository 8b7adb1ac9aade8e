/**
 * The envelope the universal client asks for (`envelope=1`): bytes in, bytes out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EnvelopeError,
  MAX_SINCE_BYTES,
  decodeEnvelope,
  decodeSince,
  encodeSince,
  messagePrefix,
  publicationHeader,
  recoveryMessage,
} from '../../../src/protocol/session/envelope.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const join = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

describe('envelope', () => {
  it('carries a plain message behind one byte', () => {
    const decoded = decodeEnvelope(join(messagePrefix(), bytes('hi')), true);
    assert.equal(decoded.kind, 'message');
    assert.deepEqual(decoded.kind === 'message' && [...decoded.data], [...bytes('hi')]);
  });

  it('carries a publication with its topic (UTF-8, counted in bytes), epoch and offset', () => {
    const header = publicationHeader('prix:€', 'Ab_-9', 42);
    assert.equal(new TextDecoder().decode(header), 'p42 Ab_-9 8:prix:€');
    const decoded = decodeEnvelope(join(header, bytes('{"p":1}')), true);
    assert.deepEqual(decoded.kind === 'publication' && [decoded.topic, decoded.epoch, decoded.offset, new TextDecoder().decode(decoded.data)], [
      'prix:€',
      'Ab_-9',
      42,
      '{"p":1}',
    ]);
  });

  it('round-trips a binary publication untouched', () => {
    const data = new Uint8Array([0, 255, 0x20, 0x3a]);
    const decoded = decodeEnvelope(join(publicationHeader('t', 'e', 1), data), false);
    assert.deepEqual(decoded.kind === 'publication' && [...decoded.data], [...data]);
  });

  it('round-trips recovery notices, and refuses malformed ones', () => {
    const ok = { topic: 't', recovered: true, epoch: 'e', offset: 3, missed: 2 } as const;
    const lost = { topic: 't', recovered: false, reason: 'retention', epoch: 'e', offset: 9 } as const;
    for (const notice of [ok, lost]) {
      const decoded = decodeEnvelope(bytes(recoveryMessage(notice)), true);
      assert.deepEqual(decoded.kind === 'recovery' && decoded.notice, notice);
    }
    assert.throws(() => decodeEnvelope(bytes(recoveryMessage(ok)), false), EnvelopeError, 'a notice is Text');
    for (const bad of ['r{', 'r{"topic":1}', 'r{"topic":"t","recovered":false,"reason":"why","epoch":"e","offset":1}', 'r{"topic":"t","recovered":true,"epoch":"e","offset":1}']) {
      assert.throws(() => decodeEnvelope(bytes(bad), true), EnvelopeError, bad);
    }
  });

  it('refuses every malformed publication header', () => {
    for (const bad of ['', 'x', 'p', 'p 1 e 1:t', 'p0 e 1:t', 'p1 e', 'p1 e 5:t', 'p1 e x:t', 'p1 e!e 1:t', 'p12345678901234567 e 1:t', 'p1 e 1']) {
      assert.throws(() => decodeEnvelope(bytes(bad), true), EnvelopeError, JSON.stringify(bad));
    }
  });

  it('round-trips positions in since, and refuses malformed or oversized ones', () => {
    const positions = new Map([
      ['a b', { epoch: 'E1', offset: 5 }],
      ['c', { epoch: 'E2', offset: 0 }],
    ]);
    assert.deepEqual(decodeSince(encodeSince(positions)), positions);
    for (const bad of ['', '{}', '[1]', '[["t","e"]]', '[[1,"e",1]]', '[["t","bad epoch",1]]', '[["t","e",-1]]', '[["t","e",1.5]]']) {
      assert.throws(() => decodeSince(bad), EnvelopeError, bad);
    }
    assert.throws(() => decodeSince(`[["${'x'.repeat(MAX_SINCE_BYTES)}","e",1]]`), EnvelopeError);
  });
});
