/** The client's options: one defaults object, resolved and checked in one place. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CLIENT_OPTIONS, resolveClientOptions } from '../../src/client/options.js';
import { WebSocket } from '../../src/client/websocket.js';

describe('client options', () => {
  it('fills every default and keeps the options it has no default for', () => {
    const headers = { origin: 'https://example.test' };
    const resolved = resolveClientOptions({ headers, closeTimeout: 100 });
    assert.equal(resolved.handshakeTimeout, DEFAULT_CLIENT_OPTIONS.handshakeTimeout);
    assert.equal(resolved.handshakeTimeout, 30_000);
    assert.equal(resolved.closeTimeout, 100);
    assert.equal(resolved.maxBufferedAmount, 8 * 1024 * 1024);
    assert.equal(resolved.perMessageDeflate, false);
    assert.equal(resolved.headers, headers);
  });

  it('treats an option given as undefined as not given', () => {
    assert.equal(resolveClientOptions({ closeTimeout: undefined }).closeTimeout, 5_000);
  });

  it('accepts Infinity where there is no limit to set', () => {
    assert.equal(resolveClientOptions({ maxBufferedAmount: Infinity }).maxBufferedAmount, Infinity);
  });

  for (const [name, options] of [
    ['handshakeTimeout 0', { handshakeTimeout: 0 }],
    ['handshakeTimeout NaN', { handshakeTimeout: Number.NaN }],
    ['maxPayload -1', { maxPayload: -1 }],
    ['maxFragments as a string', { maxFragments: '3' as unknown as number }],
    ['closeTimeout -1', { closeTimeout: -1 }],
    ['maxBufferedAmount 0', { maxBufferedAmount: 0 }],
    ['perMessageDeflate "yes"', { perMessageDeflate: 'yes' as unknown as boolean }],
    ['headers as a string', { headers: 'origin: x' as unknown as Record<string, string> }],
  ] as const) {
    it(`refuses ${name} with HL_ERR_INVALID_ARGUMENT`, () => {
      assert.throws(() => resolveClientOptions(options), { code: 'HL_ERR_INVALID_ARGUMENT' });
    });
  }

  it('throws from the constructor, before any request is made', () => {
    assert.throws(() => new WebSocket('ws://127.0.0.1:9/', [], { closeTimeout: -5 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});
