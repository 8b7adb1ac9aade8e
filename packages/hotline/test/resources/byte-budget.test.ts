import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BudgetExhausted, type BudgetHolder, ByteBudget } from '../../src/resources/byte-budget.js';

class Holder implements BudgetHolder {
  evicted: BudgetExhausted | null = null;
  constructor(private readonly budget: ByteBudget, readonly name: string) {}
  evict(reason: BudgetExhausted): void {
    this.evicted = reason;
    this.budget.release(this);
  }
}

describe('ByteBudget', () => {
  it('keeps the total of what every holder holds', () => {
    const budget = new ByteBudget('maxOutboundBytes', 100);
    const a = new Holder(budget, 'a');
    const b = new Holder(budget, 'b');
    assert.equal(budget.set(a, 30), true);
    assert.equal(budget.add(b, 20), true);
    assert.equal(budget.add(b, 5), true);
    assert.equal(budget.used, 55);
    assert.equal(budget.heldBy(b), 25);
    assert.equal(budget.set(a, 10), true);
    assert.equal(budget.used, 35);
    budget.release(a);
    budget.release(a);
    assert.equal(budget.used, 25);
    assert.equal(budget.heldBy(a), 0);
  });

  it('evicts the largest holders, largest first, to make room, down to 90 % of the limit', () => {
    const budget = new ByteBudget('maxOutboundBytes', 100);
    const big = new Holder(budget, 'big');
    const middle = new Holder(budget, 'middle');
    const small = new Holder(budget, 'small');
    const newcomer = new Holder(budget, 'newcomer');
    budget.set(big, 50);
    budget.set(middle, 30);
    budget.set(small, 15);
    assert.equal(budget.set(newcomer, 10), true);
    assert.equal(big.evicted?.budget, 'maxOutboundBytes');
    assert.equal(big.evicted?.limit, 100);
    assert.equal(middle.evicted, null, 'evicting the largest was enough');
    assert.equal(small.evicted, null);
    assert.equal(budget.used, 55);
    assert.equal(budget.evictions, 1);
  });

  it('refuses the growth of a holder that is itself the largest, and keeps what it had', () => {
    const budget = new ByteBudget('maxPartialBytes', 100);
    const greedy = new Holder(budget, 'greedy');
    const other = new Holder(budget, 'other');
    budget.set(greedy, 60);
    budget.set(other, 30);
    assert.equal(budget.set(greedy, 80), false);
    assert.equal(budget.heldBy(greedy), 60);
    assert.equal(other.evicted, null, 'a smaller holder is never evicted for a larger one');
    assert.equal(budget.refusals, 1);
  });

  it('does not count a holder that ignores its eviction against the others', () => {
    const budget = new ByteBudget('maxOutboundBytes', 10);
    const stubborn: BudgetHolder = { evict() {} };
    const polite = new Holder(budget, 'polite');
    budget.set(stubborn, 9);
    assert.equal(budget.set(polite, 5), true);
    assert.equal(budget.heldBy(stubborn), 0);
    assert.equal(budget.used, 5);
  });

  it('refuses a holder of a full budget that no other holder is larger than without scanning the holders every time (fan-out to full subscribers)', () => {
    const budget = new ByteBudget('maxOutboundBytes', 10_000);
    const holders = Array.from({ length: 1000 }, (_, i) => new Holder(budget, String(i)));
    for (const holder of holders) assert.equal(budget.set(holder, 10), true);
    const map = (budget as unknown as { holders: Map<BudgetHolder, number> }).holders;
    let scans = 0;
    const iterate = map[Symbol.iterator].bind(map);
    map[Symbol.iterator] = () => {
      scans++;
      return iterate();
    };
    // Every holder asks for one more message, a thousand times over.
    for (let round = 0; round < 1000; round++) for (const holder of holders) assert.equal(budget.add(holder, 1), false);
    assert.ok(scans <= 1, `${scans} scans for a million refusals`);
    assert.equal(budget.refusals, 1_000_000);
    // A larger holder is still found and evicted once someone needs the room.
    const big = new Holder(budget, 'big');
    for (const holder of holders.slice(0, 50)) budget.release(holder);
    assert.equal(budget.set(big, 500), true);
    assert.equal(budget.add(holders[50]!, 1), true, 'room was made');
    assert.ok(big.evicted !== null, 'by evicting the holder that grew larger');
  });

  it('never limits with an infinite limit', () => {
    const budget = new ByteBudget('none', Infinity);
    const a = new Holder(budget, 'a');
    assert.equal(budget.set(a, Number.MAX_SAFE_INTEGER), true);
  });
});
