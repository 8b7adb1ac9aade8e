import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Peer } from '../../src/types.js';
import { type TestServer, closed, next, open, startServer, waitFor } from './helpers.js';
import { deferred } from '../support/timing.js';

/**
 * Application hooks that misbehave: an `upgrade` that never settles is cut at the
 * handshake timeout, and a hook that returns a rejected promise is a throw — reported
 * through `error`, that session closed with 1011, the process untouched.
 */

async function call(url: string): Promise<{ status: number; code: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const text = await response.text();
  let code = '';
  try {
    code = JSON.parse(text).code;
  } catch {
    // not JSON
  }
  return { status: response.status, code };
}

describe('an upgrade hook that never settles', () => {
  let ts: TestServer;
  const late = deferred<{ data: string }>();
  let opens = 0;

  before(async () => {
    ts = await startServer(
      () => ({
        '/never': {
          upgrade: () => new Promise<never>(() => undefined),
        },
        '/late': {
          upgrade: () => late.promise,
          open() {
            opens++;
          },
        },
        '/fine': {},
      }),
      { maxSessions: 2 },
      { handshakeTimeout: 300 },
    );
  });
  after(() => ts.close());

  it('answers 408 HL_ERR_HANDSHAKE_TIMEOUT at handshakeTimeout on every HTTP transport, and releases its place', async () => {
    for (const transport of ['polling', 'long-polling', 'interval-polling', 'sse']) {
      const answer = await call(ts.url(`/never?transport=${transport}`));
      assert.deepEqual([answer.status, answer.code], [408, 'HL_ERR_HANDSHAKE_TIMEOUT'], transport);
    }
    // maxSessions is 2: had the four hung handshakes kept their places, this would be 503.
    const fine = await call(ts.url('/fine?transport=polling'));
    assert.equal(fine.status, 200);
  });

  it('ignores the late answer of an upgrade hook that settles after the handshake timed out: no session', async () => {
    const before = ts.transports.size;
    const answer = await call(ts.url('/late?transport=polling'));
    assert.equal(answer.status, 408);
    late.resolve({ data: 'too late' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ts.transports.size, before);
    assert.equal(opens, 0);
  });

  it('treats a thenable that is not a Promise as an async answer', async () => {
    const ts2 = await startServer(() => ({
      '/thenable': {
        upgrade: () => ({ then: (resolve: (value: unknown) => void) => resolve({ data: 'from a thenable' }) }) as never,
        open(peer: Peer) {
          peer.send(String(peer.data));
        },
      },
    }));
    try {
      const client = open(ts2.url('/thenable'), 'polling');
      const message = await next<Event & { data: string }>(client, 'message');
      assert.equal(message.data, 'from a thenable');
      client.close();
    } finally {
      await ts2.close();
    }
  });
});

describe('hooks that return a rejected promise', () => {
  let ts: TestServer;
  const errors: Array<[string, Error]> = [];
  const closes: Array<[string, number]> = [];

  before(async () => {
    const record = (name: string) => ({
      error(_peer: Peer, error: Error) {
        errors.push([name, error]);
      },
      close(_peer: Peer, code: number) {
        closes.push([name, code]);
      },
    });
    ts = await startServer(() => ({
      '/message': {
        ...record('message'),
        async message() {
          throw new Error('async message failed');
        },
      },
      '/open': {
        ...record('open'),
        async open() {
          throw new Error('async open failed');
        },
      },
      '/drain': {
        ...record('drain'),
        open(peer: Peer) {
          peer.send('x'.repeat(200));
          peer.send('y'.repeat(200)); // over maxQueue: dropped, so drain is wanted
        },
        async drain() {
          throw new Error('async drain failed');
        },
      },
      '/close': {
        error(_peer: Peer, error: Error) {
          errors.push(['close', error]);
        },
        async close() {
          throw new Error('async close failed');
        },
      },
    }), { maxQueue: 300 });
  });
  after(() => ts.close());

  for (const transport of ['long-polling', 'sse'] as const) {
    it(`reports a rejected async message hook through error and closes that ${transport} session with 1011`, async () => {
      const client = open(ts.url('/message'), transport, { reconnect: false });
      await next(client, 'open');
      client.send('boom');
      const event = await closed(client);
      assert.equal(event.code, 1011);
      const error = errors.find(([name]) => name === 'message');
      assert.ok(error !== undefined);
      assert.equal(error[1].message, 'async message failed');
      errors.length = 0;
    });
  }

  it('reports a rejected async open hook and closes the session with 1011', async () => {
    const client = open(ts.url('/open'), 'polling', { reconnect: false });
    const event = await closed(client);
    assert.equal(event.code, 1011);
    assert.equal(errors.find(([name]) => name === 'open')?.[1].message, 'async open failed');
  });

  it('reports a rejected async drain hook and closes the session with 1011', async () => {
    const client = open(ts.url('/drain'), 'polling', { reconnect: false });
    const event = await closed(client);
    assert.equal(event.code, 1011);
    assert.equal(errors.find(([name]) => name === 'drain')?.[1].message, 'async drain failed');
  });

  it('reports a rejected async close hook through error, and nothing else breaks', async () => {
    const client = open(ts.url('/close'), 'polling');
    await next(client, 'open');
    client.close(4001, 'bye');
    await closed(client);
    await waitFor(() => errors.some(([name]) => name === 'close'), 'the error hook for the close', 2000);
    assert.equal(errors.find(([name]) => name === 'close')?.[1].message, 'async close failed');
  });
});
