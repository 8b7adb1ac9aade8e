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
import { hexOf } from './target.js';
import { TARGETS } from './targets/index.js';

const SEED = 0x6455;

/** Executions after the replay: about two seconds per target on an idle 2-core machine. */
const EXECUTIONS: Readonly<Record<string, number>> = {
  frames: 1500,
  'request-head': 3000,
  extensions: 3000,
  'polling-body': 3000,
  sse: 2500,
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
