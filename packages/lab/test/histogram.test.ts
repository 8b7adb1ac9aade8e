// The latency percentiles the lab shows: within 1 % of the exact sample, mergeable, and
// the same after a trip between processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram } from '../src/histogram.js';

function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

test('quantiles are within 1 % of the exact ones, from microseconds to minutes', () => {
  const values: number[] = [];
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push(Math.exp((seed / 2 ** 31) * Math.log(1e8)) / 1000); // 1 µs .. 100 s, log-uniform
  }
  const h = new Histogram();
  for (const v of values) h.record(v);
  for (const q of [0.01, 0.5, 0.9, 0.99, 0.999]) {
    const want = exact(values, q);
    const got = h.quantile(q);
    assert.ok(Math.abs(got - want) / want <= 0.011, `q${q}: ${got} vs ${want}`);
  }
  assert.equal(h.count, values.length);
  assert.equal(h.max, Math.max(...values));
});

test('an empty histogram says 0, a single sample is every quantile', () => {
  const h = new Histogram();
  assert.deepEqual(h.summary(), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  h.record(12.5);
  const s = h.summary();
  assert.equal(s.count, 1);
  assert.ok(Math.abs(s.p50 - 12.5) / 12.5 < 0.011 && s.p99 === s.p50 && s.max === 12.5);
});

test('negative samples (clock offset error) count as zero and are reported', () => {
  const h = new Histogram();
  h.record(-0.2);
  h.record(Number.NaN);
  h.record(3);
  assert.equal(h.count, 2);
  assert.equal(h.negative, 1);
  assert.ok(h.quantile(0.5) <= 0.001);
});

test('merging equals recording everything in one; JSON round trip keeps it', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 1; i <= 1000; i++) {
    (i % 3 === 0 ? a : b).record(i / 10);
    all.record(i / 10);
  }
  const merged = Histogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
  merged.merge(Histogram.fromJSON(JSON.parse(JSON.stringify(b.toJSON()))));
  assert.deepEqual(merged.summary(), all.summary());
});
