import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SERVER_OPTIONS, resolveCloseOptions, resolveServerOptions, type ServerOptions } from '../../src/server/options.js';
import { Server } from '../../src/server/server.js';

describe('resolveServerOptions', () => {
  it('gives every option its default', () => {
    assert.deepEqual(resolveServerOptions(), DEFAULT_SERVER_OPTIONS);
    assert.deepEqual(resolveServerOptions({}), DEFAULT_SERVER_OPTIONS);
    assert.deepEqual(Object.keys(DEFAULT_SERVER_OPTIONS).sort(), Object.keys(new Server().options).sort());
  });

  it('keeps the values given, and the defaults of the others', () => {
    const resolved = resolveServerOptions({ maxPayload: 1024, idleTimeout: 0, sendPings: false, maxInflateRate: Infinity });
    assert.equal(resolved.maxPayload, 1024);
    assert.equal(resolved.idleTimeout, 0);
    assert.equal(resolved.sendPings, false);
    assert.equal(resolved.maxInflateRate, Infinity);
    assert.equal(resolved.closeTimeout, DEFAULT_SERVER_OPTIONS.closeTimeout);
  });

  it('does not let a server change the defaults', () => {
    assert.ok(Object.isFrozen(DEFAULT_SERVER_OPTIONS));
    const resolved = resolveServerOptions({ closeTimeout: 1 });
    assert.notEqual(resolved, DEFAULT_SERVER_OPTIONS);
    assert.equal(DEFAULT_SERVER_OPTIONS.closeTimeout, 5_000);
  });

  const bad: Array<[string, ServerOptions]> = [
    ['maxPayload 0', { maxPayload: 0 }],
    ['maxPayload NaN', { maxPayload: Number.NaN }],
    ['maxPayload as a string', { maxPayload: '1024' as never }],
    ['maxFragments 1.5', { maxFragments: 1.5 }],
    ['maxFragments 0', { maxFragments: 0 }],
    ['handshakeTimeout -1', { handshakeTimeout: -1 }],
    ['closeTimeout 0', { closeTimeout: 0 }],
    ['idleTimeout -1', { idleTimeout: -1 }],
    ['idleTimeout NaN', { idleTimeout: Number.NaN }],
    ['sendPings as a string', { sendPings: 'yes' as never }],
    ['maxBufferedAmount 0', { maxBufferedAmount: 0 }],
    ['maxPartialBytes -1', { maxPartialBytes: -1 }],
    ['maxInflateRate 0', { maxInflateRate: 0 }],
    ['maxConnections 0', { maxConnections: 0 }],
    ['maxOutboundBytes NaN', { maxOutboundBytes: Number.NaN }],
    ['perMessageDeflate as a number', { perMessageDeflate: 1 as never }],
    ['perMessageDeflate null', { perMessageDeflate: null as never }],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with HL_ERR_INVALID_ARGUMENT, naming the option`, () => {
      const key = Object.keys(options)[0]!;
      assert.throws(() => resolveServerOptions(options), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'HL_ERR_INVALID_ARGUMENT');
        assert.match(error.message, new RegExp(`^${key} must be`));
        return true;
      });
      assert.throws(() => new Server(options), { code: 'HL_ERR_INVALID_ARGUMENT' });
    });
  }

  it('refuses options that are not an object', () => {
    assert.throws(() => resolveServerOptions(null as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });

  it("leaves the codec's options to the codec's own resolver, which the server runs when it is made", () => {
    assert.doesNotThrow(() => resolveServerOptions({ perMessageDeflate: { level: 42 } }));
    assert.throws(() => new Server({ perMessageDeflate: { level: 42 } }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});

describe('resolveCloseOptions', () => {
  const server = resolveServerOptions({ closeTimeout: 1234 });

  it("closes with 1001 (Going Away) within the server's closeTimeout by default", () => {
    assert.deepEqual(resolveCloseOptions({}, server), { timeout: 1234, code: 1001, reason: 'server shutting down' });
  });

  it('keeps what is given', () => {
    assert.deepEqual(resolveCloseOptions({ timeout: 0, code: 4000, reason: 'bye' }, server), { timeout: 0, code: 4000, reason: 'bye' });
  });

  it('refuses a timeout, code or reason no shutdown can use', () => {
    for (const options of [{ timeout: -1 }, { timeout: Number.NaN }, { code: 1005 }, { code: 999 }, { reason: 'x'.repeat(124) }]) {
      assert.throws(() => resolveCloseOptions(options, server), { code: 'HL_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
    }
  });
});
