import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from '../../src/browser/client.js';
import { CLIENT_DEFAULTS, type ClientOptions, backoffDelay, resolveClientOptions, restartDelay } from '../../src/browser/options.js';

describe('client options', () => {
  it('fills in every default', () => {
    const o = resolveClientOptions({});
    assert.deepEqual(o.transports, ['websocket', 'sse', 'long-polling', 'polling']);
    assert.equal(o.openTimeout, 10_000);
    assert.equal(o.requestTimeout, 20_000);
    assert.equal(o.maxOverlap, 4);
    assert.equal(o.credentials, 'same-origin');
    assert.equal(o.upgrade, false);
    assert.equal(o.interval, undefined, "the server's interval unless one is given");
    assert.deepEqual(o.reconnect, CLIENT_DEFAULTS.reconnect);
    assert.deepEqual(o.headers, {});
  });

  it('keeps what is given, merging reconnection options over their defaults', () => {
    const o = resolveClientOptions({ openTimeout: 3000, interval: 0, reconnect: { retries: 3, minDelay: 50 }, transports: ['polling'] });
    assert.equal(o.openTimeout, 3000);
    assert.equal(o.interval, 0);
    assert.deepEqual(o.reconnect, { ...CLIENT_DEFAULTS.reconnect, retries: 3, minDelay: 50 });
    assert.deepEqual(o.transports, ['polling']);
    assert.equal(resolveClientOptions({ reconnect: false }).reconnect, null);
  });

  const invalid: Array<[string, ClientOptions, RegExp]> = [
    ['an empty transport list', { transports: [] }, /transports/],
    ['an unknown transport', { transports: ['carrier-pigeon' as never] }, /transports/],
    ['a negative openTimeout', { openTimeout: -1 }, /openTimeout must be a positive number of ms \(got -1\)/],
    ['a zero requestTimeout', { requestTimeout: 0 }, /requestTimeout/],
    ['an infinite openTimeout', { openTimeout: Infinity }, /openTimeout/],
    ['a string interval', { interval: '100' as never }, /interval .*\(got "100"\)/],
    ['a fractional maxOverlap', { maxOverlap: 1.5 }, /maxOverlap/],
    ['a zero maxOverlap', { maxOverlap: 0 }, /maxOverlap/],
    ['unknown credentials', { credentials: 'all' as never }, /credentials/],
    ['a negative retry count', { reconnect: { retries: -1 } }, /reconnect\.retries/],
    ['a maxDelay under minDelay', { reconnect: { minDelay: 500, maxDelay: 100 } }, /reconnect\.maxDelay/],
    ['a jitter over 1', { reconnect: { jitter: 2 } }, /reconnect\.jitter/],
    ['a factor under 1', { reconnect: { factor: 0.5 } }, /reconnect\.factor/],
    ['a WebSocket that is not a class', { WebSocket: {} as never }, /WebSocket must be a function/],
    ['a header that is not a string', { headers: { 'X-N': 1 as never } }, /header X-N/],
    ['headers that are a list', { headers: [] as never }, /headers must be an object/],
    ['reconnect that is true', { reconnect: true as never }, /reconnect must be an options object or false/],
    ['an unknown option', { openTimout: 10 } as never, /unknown option openTimout in the client options \(did you mean openTimeout\?\)/],
    ['an unknown reconnect option', { reconnect: { minDelai: 3 } } as never, /unknown option minDelai in the client option reconnect \(did you mean minDelay\?\)/],
    ['a reconnect option far from any', { reconnect: { backoff: 3 } } as never, /unknown option backoff in the client option reconnect; known: retries, minDelay/],
    ['an upgrade that is not a boolean', { upgrade: 'yes' as never }, /upgrade must be a boolean \(got "yes"\)/],
  ];
  for (const [what, options, message] of invalid) {
    it(`throws HL_ERR_INVALID_ARGUMENT at connect() on ${what}`, () => {
      // A WebSocket class is given: the missing global of Node 20 is another test.
      assert.throws(() => connect('http://127.0.0.1:1/x', { WebSocket: class {} as never, ...options }), { code: 'HL_ERR_INVALID_ARGUMENT', message });
    });
  }

  it('throws HL_ERR_INVALID_ARGUMENT for options that are not an object, a URL that is none or a scheme it does not speak', () => {
    assert.throws(() => connect('http://127.0.0.1:1/x', 'fast' as never), { code: 'HL_ERR_INVALID_ARGUMENT', message: /client options must be an object/ });
    assert.throws(() => connect('not a url', { transports: ['polling'] }), { code: 'HL_ERR_INVALID_ARGUMENT', message: /is not a URL/ });
    assert.throws(() => connect('ftp://127.0.0.1/x', { transports: ['polling'] }), { code: 'HL_ERR_INVALID_ARGUMENT', message: /scheme ftp:/ });
  });

  it('grows the backoff by the factor up to maxDelay, spread by the jitter', () => {
    const policy = { ...CLIENT_DEFAULTS.reconnect };
    // random 0.5: no spread
    assert.deepEqual([1, 2, 3, 6, 7].map((n) => backoffDelay(policy, n, 0.5)), [500, 1000, 2000, 10_000, 10_000]);
    assert.equal(backoffDelay(policy, 1, 0), 250);
    assert.equal(backoffDelay(policy, 1, 0.999999), 750);
  });

  it('after 1012 the first retry is uniform in [0, minDelay]: a draining node spread its closes already', () => {
    const policy = { ...CLIENT_DEFAULTS.reconnect, minDelay: 400 };
    assert.deepEqual([0, 0.25, 0.5, 0.999999].map((r) => restartDelay(policy, r)), [0, 100, 200, 400]);
  });
});
