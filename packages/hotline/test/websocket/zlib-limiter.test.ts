import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { ZlibLimiter, limiterFor, zlibLimiter } from '../../src/websocket/zlib-limiter.js';
import { deflateNegotiator } from '../../src/server/extensions.js';
import type { PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import { WebSocket } from '../../src/client/websocket.js';
import type { PerMessageDeflate } from '../../src/websocket/permessage-deflate.js';
import { listening } from '../support/server.js';

describe('ZlibLimiter', () => {
  it('runs at most `concurrency` jobs at once, in arrival order', () => {
    const limiter = new ZlibLimiter(2);
    const started: number[] = [];
    const dones: Array<() => void> = [];
    for (let i = 0; i < 5; i++) {
      limiter.run((done) => {
        started.push(i);
        dones.push(done);
      });
    }
    assert.deepEqual(started, [0, 1]);
    assert.equal(limiter.running, 2);
    assert.equal(limiter.queued, 3);
    dones[1]!();
    assert.deepEqual(started, [0, 1, 2]);
    dones[0]!();
    dones[2]!();
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    dones[3]!();
    dones[4]!();
    assert.equal(limiter.running, 0);
    assert.equal(limiter.queued, 0);
  });

  it('gives a slot back once, however often done is called', () => {
    const limiter = new ZlibLimiter(1);
    let done: () => void = () => {};
    limiter.run((d) => (done = d));
    let second = false;
    limiter.run(() => (second = true));
    limiter.run(() => assert.fail('must wait for the second job'));
    done();
    done();
    done();
    assert.ok(second);
    assert.equal(limiter.running, 1);
    assert.equal(limiter.queued, 1);
  });

  it('drains 100,000 jobs that finish synchronously without growing the stack', () => {
    const limiter = new ZlibLimiter(1);
    let hold: () => void = () => {};
    limiter.run((done) => (hold = done));
    let ran = 0;
    for (let i = 0; i < 100_000; i++) {
      limiter.run((done) => {
        ran++;
        done();
      });
    }
    hold();
    assert.equal(ran, 100_000);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.queued, 0);
  });

  it('starts queued jobs when the concurrency is raised', () => {
    const limiter = new ZlibLimiter(1);
    let started = 0;
    for (let i = 0; i < 4; i++) limiter.run(() => started++);
    assert.equal(started, 1);
    limiter.concurrency = 3;
    assert.equal(started, 3);
  });

  it('releases the slot of a job that throws, and rethrows', () => {
    const limiter = new ZlibLimiter(1);
    assert.throws(
      () =>
        limiter.run(() => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(limiter.running, 0);
    let ran = false;
    limiter.run(() => (ran = true));
    assert.ok(ran);
  });

  it('refuses a concurrency that is not a positive integer', () => {
    for (const value of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new ZlibLimiter(value), { code: 'HL_ERR_INVALID_ARGUMENT' });
      assert.throws(() => (new ZlibLimiter(1).concurrency = value), { code: 'HL_ERR_INVALID_ARGUMENT' });
    }
  });

  it('has one process-wide instance, at 10 by default', () => {
    assert.equal(zlibLimiter.concurrency, 10);
  });
});

/** The limiter a server made with `options` gives the codec of a connection (as a handshake does). */
function serverLimiter(options: PerMessageDeflateOptions | true): ZlibLimiter {
  const negotiate = deflateNegotiator(options);
  const { codec } = negotiate('permessage-deflate; client_max_window_bits', { options: { maxPayload: 1024 }, partial: null, inflate: null });
  const limiter = (codec as PerMessageDeflate).limiter;
  codec!.close();
  return limiter;
}

describe('whose zlib limit', () => {
  it('gives a server that sets its concurrency a limiter of its own, which another server leaves alone', () => {
    const first = serverLimiter({ concurrency: 2 });
    const second = serverLimiter({ concurrency: 5 });
    assert.deepEqual([first.concurrency, second.concurrency], [2, 5]);
    assert.notEqual(first, zlibLimiter);
    assert.notEqual(second, zlibLimiter);
    assert.equal(zlibLimiter.concurrency, 10, 'the process-wide limit is unchanged');
  });

  it('shares the process-wide limiter among the servers that set none', () => {
    assert.equal(serverLimiter(true), zlibLimiter);
    assert.equal(serverLimiter({ level: 1 }), zlibLimiter);
  });

  it('makes one limiter per server, shared by all its connections', () => {
    const negotiate = deflateNegotiator({ concurrency: 3 });
    const server = { options: { maxPayload: 1024 }, partial: null, inflate: null };
    const codecs = [negotiate('permessage-deflate', server).codec, negotiate('permessage-deflate', server).codec] as PerMessageDeflate[];
    assert.equal(codecs[0]!.limiter, codecs[1]!.limiter);
    for (const codec of codecs) codec.close();
  });

  it('limiterFor: the process-wide limiter without a concurrency, a new one with', () => {
    assert.equal(limiterFor(undefined), zlibLimiter);
    const own = limiterFor(4);
    assert.equal(own.concurrency, 4);
    assert.notEqual(limiterFor(4), own);
  });

  it("gives a client that sets its concurrency a limiter of its own, and the others the process-wide one", async () => {
    const { server, url } = await listening({ perMessageDeflate: true }, (s) => s.route('*', {}));
    const limiterOf = (ws: WebSocket): ZlibLimiter =>
      (ws as unknown as { connection: { negotiated: { codec: PerMessageDeflate } } }).connection.negotiated.codec.limiter;
    const opened = (ws: WebSocket) => new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const own = new WebSocket(url, undefined, { perMessageDeflate: { concurrency: 2 } });
    const shared = new WebSocket(url, undefined, { perMessageDeflate: true });
    try {
      await Promise.all([opened(own), opened(shared)]);
      assert.equal(limiterOf(own).concurrency, 2);
      assert.notEqual(limiterOf(own), zlibLimiter);
      assert.equal(limiterOf(shared), zlibLimiter);
      assert.equal(zlibLimiter.concurrency, 10);
    } finally {
      own.close();
      shared.close();
      await server.close({ timeout: 100 });
    }
  });
});
