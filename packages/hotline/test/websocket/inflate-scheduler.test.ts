import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InflateScheduler, type InflateTurns, QUANTUM } from '../../src/websocket/inflate-scheduler.js';

/** A connection's inflate stream as the scheduler sees it: it records when it may go on. */
class Lane implements InflateTurns {
  allowance = 0;
  resumed = 0;
  constructor(
    readonly name: string,
    private readonly order: string[],
  ) {}
  resumeInflate(): void {
    this.resumed++;
    this.order.push(this.name);
  }
}

const RATE = 1024 * 1024; // 1 MiB/s: the bucket holds max(QUANTUM, 100 ms) = 102.4 KiB

describe('InflateScheduler: a rate of inflated output, taken in turns', () => {
  let clock = 0;
  const schedulers: InflateScheduler[] = [];
  const scheduler = () => {
    const made = new InflateScheduler(RATE, () => clock);
    schedulers.push(made);
    return made;
  };
  afterEach(() => {
    // Their timers are unref'd; giving the turns empties the queues so nothing lingers.
    for (const s of schedulers) s.giveTurns();
    schedulers.length = 0;
    clock = 0;
  });

  it('lets output through unslowed while the bucket has tokens', () => {
    const s = scheduler();
    const lane = new Lane('a', []);
    let produced = 16 * 1024;
    while (s.spend(lane, 16 * 1024)) produced += 16 * 1024;
    // The bucket's 100 ms of rate, give or take a turn: then it waits.
    assert.ok(produced >= RATE * 0.1 && produced <= RATE * 0.1 + 2 * QUANTUM, `${produced} bytes before the first pause`);
    assert.equal(s.queued, 1);
  });

  it('pauses a lane once the bucket is empty, and resumes it when the rate has refilled a turn', () => {
    const s = scheduler();
    const lane = new Lane('a', []);
    while (s.spend(lane, 16 * 1024));
    assert.equal(lane.resumed, 0);
    s.giveTurns();
    assert.equal(lane.resumed, 0, 'no tokens yet: it still waits');
    clock += (QUANTUM / RATE) * 1000 * 2;
    s.giveTurns();
    assert.equal(lane.resumed, 1);
    assert.ok(lane.allowance > 0);
    assert.equal(s.queued, 0);
  });

  it('gives turns round-robin: a lane that used its turn goes behind those waiting', () => {
    const order: string[] = [];
    const s = scheduler();
    const bomb = new Lane('bomb', order);
    while (s.spend(bomb, 16 * 1024));
    const others = ['b', 'c', 'd'].map((name) => new Lane(name, order));
    // Each other lane's first output needs a turn, and the bucket is empty: they queue.
    for (const lane of others) assert.equal(s.spend(lane, 100), false);
    for (let round = 0; round < 4; round++) {
      clock += (QUANTUM / RATE) * 1000;
      s.giveTurns();
      // A lane that got its turn spends all of it, and asks again.
      const last = order.at(-1);
      const lane = [bomb, ...others].find((l) => l.name === last)!;
      if (lane === bomb) while (s.spend(bomb, 16 * 1024));
    }
    assert.deepEqual(order.slice(0, 4), ['bomb', 'b', 'c', 'd']);
  });

  it('never gives a turn to a lane that stopped waiting', () => {
    const s = scheduler();
    const lane = new Lane('a', []);
    while (s.spend(lane, 16 * 1024));
    s.cancel(lane);
    clock += 10_000;
    s.giveTurns();
    assert.equal(lane.resumed, 0);
    assert.equal(s.queued, 0);
  });
});
