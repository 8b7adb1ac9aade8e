import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { ZlibLimiter, zlibLimiter } from '../../src/websocket/zlib-limiter.js';

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
