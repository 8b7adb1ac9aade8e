/**
 * The short pass of the coverage-guided fuzzers: each target replays its corpus
 * (`test/fuzz/corpus/<target>/`) and its seeds, then fuzzes for a fixed number of
 * executions from a fixed seed, so a failure here replays exactly. The long runs are
 * `npm run fuzz` (see the README, "Fuzzing"). Nothing is written to the corpus here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Corpus } from './corpus.js';
import { Fuzzer } from './fuzzer.js';
import { planted } from './planted.js';
import { type Target, hexOf } from './target.js';
import { TARGETS } from './targets/index.js';

const SEED = 0x6455;

/**
 * Executions after the replay, so that the whole file takes about 10 s on an idle 2-core
 * machine and stays under 20 s while other work loads it (the replay takes about half).
 */
const EXECUTIONS: Readonly<Record<string, number>> = {
  frames: 700,
  'request-head': 1500,
  extensions: 1500,
  'polling-body': 1500,
  sse: 800,
};

describe('fuzz: every target replays its corpus, then fuzzes from a fixed seed', () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${target.about}`, { timeout: 60_000 }, async () => {
      const report = await new Fuzzer(target, {
        seed: SEED,
        executions: EXECUTIONS[target.name] ?? 1000,
        corpus: new Corpus(target.name),
        persist: false,
      }).run();
      const { failure } = report;
      assert.equal(
        failure,
        null,
        failure === null
          ? ''
          : `${failure.message}\n  input ${hexOf(failure.input)}\n  replay: npm run fuzz -- --target ${target.name} --input ${hexOf(failure.input)}`,
      );
      assert.ok(report.replayed > 0, 'something was replayed');
    });
  }
});

describe('fuzz: the fuzzer itself', () => {
  const target: Target = { name: 'planted', about: 'a bug behind four comparisons', seeds: () => [Buffer.alloc(4)], run: planted };
  const measure = new URL('./planted.js', import.meta.url).href;

  it('follows coverage to a bug behind four nested comparisons (2^16 blind tries) and cuts the input down to the bytes compared', async () => {
    const report = await new Fuzzer(target, { seed: SEED, executions: 10_000, measure }).run();
    assert.ok(report.failure !== null, `not found in ${report.executions} executions`);
    assert.equal(report.failure.message, 'Error: planted bug reached');
    assert.equal(report.failure.input.length, 4);
    // Each comparison passed is a block reached: the corpus grew one step at a time.
    assert.ok(report.added >= 3, `${report.added} entries added`);
  });

  it('gives the same run for the same seed', async () => {
    const run = async () => {
      const r = await new Fuzzer(target, { seed: 7, executions: 500, measure }).run();
      return { executions: r.executions, added: r.added, features: r.features, input: r.failure && hexOf(r.failure.input) };
    };
    assert.deepEqual(await run(), await run());
  });
});
