/**
 * A small coverage-guided fuzzer (the loop of libFuzzer and AFL, in JavaScript): replay
 * the corpus, then mutate its entries and keep every child that reaches a block, or a
 * block count bucket, that no entry reached before. New entries are minimised (bytes cut
 * away while their new coverage stays) before they are kept; a failing input is
 * minimised while it fails the same property, then reported in hex.
 *
 * Everything random comes from `seed`: the same seed, corpus and code give the same run.
 */
import { performance } from 'node:perf_hooks';
import { prng, randomInt } from '../support/bytes.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BlockCoverage, type Gap, blockOf } from './coverage.js';
import type { Corpus } from './corpus.js';
import { Mutator } from './mutator.js';
import { type Cost, PropertyError, type Target, describe, hexOf } from './target.js';

/** The library as compiled: only its code counts as coverage. */
const LIBRARY = new URL('../../src/', import.meta.url).href;

export interface FuzzOptions {
  seed: number;
  /** URL prefix of the code whose coverage guides the run. Default: the library (`dist/src/`). */
  measure?: string;
  /** Stop after this many mutated executions... */
  executions?: number;
  /** ...or after this many milliseconds of fuzzing, whichever comes first. */
  time?: number;
  /** Where inputs are read from; new entries are written there when `persist`. */
  corpus?: Corpus;
  persist?: boolean;
  /** Executions spent minimising one new entry (a failure gets ten times as many). */
  minimizeBudget?: number;
  /** Measure `target.cost` of new entries (long runs only: timings are noisy). */
  cost?: boolean;
  /** An async run that has not settled after this long fails (ms). */
  hangAfter?: number;
  /** Called with each input before it runs (a watchdog keeps it, to name a hang). */
  beforeExecute?: (input: Buffer) => void;
  /** Progress lines (every `reportEvery` ms). */
  log?: (line: string) => void;
  reportEvery?: number;
}

export interface Failure {
  readonly property: string;
  readonly message: string;
  /** The minimised input. */
  readonly input: Buffer;
  readonly original: Buffer;
}

export interface CostlyInput extends Cost {
  readonly input: Buffer;
}

export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  /** Corpus entries and seeds replayed first. */
  readonly replayed: number;
  /** Inputs run: replay, mutations and minimisation. */
  readonly executions: number;
  readonly corpusBefore: number;
  readonly corpusAfter: number;
  /** Entries added by this run. */
  readonly added: number;
  /** Blocks of the library's invoked functions seen so far, and how many were reached. */
  readonly blocks: number;
  readonly reached: number;
  /** The blocks seen and never reached, as `file:line: code` of the compiled library. */
  readonly gaps: string[];
  readonly features: number;
  readonly ms: number;
  readonly failure: Failure | null;
  /** Inputs over the target's cost bounds, costliest first (at most 10). */
  readonly costly: CostlyInput[];
}

interface Outcome {
  readonly features: number[];
  readonly error: unknown;
}

class Found extends Error {
  constructor(readonly input: Buffer, readonly error: unknown) {
    super('failure found');
  }
}

/** `file.js:line: first line of the block`, for reading what the fuzzer never reached. */
function describeGaps(gaps: readonly Gap[], prefix: string): string[] {
  const sources = new Map<string, string>();
  return gaps.map(({ url, start }) => {
    let source = sources.get(url);
    if (source === undefined) {
      source = readFileSync(fileURLToPath(url), 'utf8');
      sources.set(url, source);
    }
    const line = source.slice(0, start).split('\n').length;
    const code = source.slice(start, source.indexOf('\n', start)).trim().slice(0, 70);
    return `${url.slice(prefix.length) || url}:${line}: ${code}`;
  });
}

export function describeCost(cost: Cost): string {
  return `${cost.ms.toFixed(0)} ms and ${cost.heapPerByte.toFixed(1)} heap bytes per byte for ${(cost.bytes / 1048576).toFixed(1)} MiB`;
}

/** Groups failures: the property, or the error's class and code, without the numbers. */
function signature(error: unknown): string {
  if (error instanceof PropertyError) return error.property;
  return describe(error).replace(/\d+/g, 'N').split('\n')[0]!;
}

export class Fuzzer {
  private readonly target: Target;
  private readonly options: FuzzOptions;
  private readonly coverage: BlockCoverage;
  private readonly random: () => number;
  private readonly mutator: Mutator;
  private readonly seen = new Set<number>();
  private readonly reached = new Set<number>();
  private readonly entries: Buffer[] = [];
  private executions = 0;
  private added = 0;
  private readonly costly: CostlyInput[] = [];
  private measured = 0;

  constructor(target: Target, options: FuzzOptions) {
    this.target = target;
    this.options = options;
    this.random = prng(options.seed);
    this.coverage = new BlockCoverage(options.measure ?? LIBRARY);
    const encoder = new TextEncoder();
    this.mutator = new Mutator(this.random, {
      maxLength: target.maxLength ?? 4096,
      headerBytes: target.headerBytes ?? 0,
      dictionary: (target.dictionary ?? []).map((word) => (typeof word === 'string' ? encoder.encode(word) : word)),
    });
  }

  async run(): Promise<FuzzReport> {
    const started = performance.now();
    const { corpus, log } = this.options;
    const stored = corpus?.load() ?? [];
    let failure: Failure | null = null;
    let replayed = 0;
    this.coverage.start();
    try {
      for (const input of [...stored, ...this.target.seeds().map((seed) => Buffer.from(seed))]) {
        replayed++;
        const outcome = await this.execute(input);
        if (outcome.error !== null) throw new Found(input, outcome.error);
        // Every stored entry stays (it may cover what this build no longer shows); seeds
        // are kept only when they add coverage.
        if (this.learn(outcome.features) > 0 || replayed <= stored.length) this.entries.push(input);
        if (this.options.cost) this.measure(input);
      }
      if (this.entries.length === 0) this.entries.push(Buffer.alloc(0));
      log?.(`${this.target.name}: replayed ${replayed} inputs, ${this.seen.size} features, ${this.blocksLine()}`);
      await this.fuzz(started);
    } catch (error) {
      if (!(error instanceof Found)) throw error;
      failure = await this.minimizeFailure(error.input, error.error);
    } finally {
      this.coverage.stop();
    }
    return {
      target: this.target.name,
      seed: this.options.seed,
      replayed,
      executions: this.executions,
      corpusBefore: stored.length,
      corpusAfter: stored.length + (this.options.persist ? this.added : 0),
      added: this.added,
      blocks: this.coverage.blocks,
      reached: this.reached.size,
      gaps: describeGaps(this.coverage.gaps(this.reached), this.options.measure ?? LIBRARY),
      features: this.seen.size,
      ms: performance.now() - started,
      failure,
      costly: this.costly.sort((a, b) => b.ms - a.ms).slice(0, 10),
    };
  }

  private async fuzz(started: number): Promise<void> {
    const { executions = Infinity, time = Infinity, log, reportEvery = 10_000 } = this.options;
    const deadline = started + time;
    const last = this.executions + executions;
    let nextReport = performance.now() + reportEvery;
    while (this.executions < last && performance.now() < deadline) {
      const parent = this.pickParent();
      const other = this.entries[randomInt(this.random, 0, this.entries.length - 1)]!;
      const child = this.mutator.mutate(parent, other);
      const outcome = await this.execute(child);
      if (outcome.error !== null) throw new Found(child, outcome.error);
      const fresh = outcome.features.filter((feature) => !this.seen.has(feature));
      if (fresh.length > 0) await this.keep(child, fresh);
      if (log !== undefined && performance.now() >= nextReport) {
        nextReport += reportEvery;
        log(this.progress(started));
      }
    }
  }

  /**
   * libFuzzer's -merge: a small set of `inputs` that covers, with the target's seeds
   * (which every run adds anyway), what all of them cover; smallest inputs first.
   * Throws if any input fails.
   */
  async merge(inputs: readonly Buffer[]): Promise<Buffer[]> {
    const sorted = [...inputs].sort((a, b) => a.length - b.length || Buffer.compare(a, b));
    const kept: Buffer[] = [];
    this.coverage.start();
    try {
      for (const seed of this.target.seeds()) this.learn((await this.execute(Buffer.from(seed))).features);
      for (const input of sorted) {
        const outcome = await this.execute(input);
        if (outcome.error !== null) throw new Error(`corpus entry fails: ${describe(outcome.error)}; input ${hexOf(input)}`);
        if (this.learn(outcome.features) > 0) kept.push(input);
      }
    } finally {
      this.coverage.stop();
    }
    return kept;
  }

  progress(started: number): string {
    const seconds = (performance.now() - started) / 1000;
    return (
      `${this.target.name}: ${this.executions} execs (${Math.round(this.executions / seconds)}/s), ` +
      `corpus ${this.entries.length} (+${this.added}), ${this.seen.size} features, ${this.blocksLine()}`
    );
  }

  /** Recent entries half of the time: the newest coverage is the likeliest to lead further. */
  private pickParent(): Buffer {
    const n = this.entries.length;
    if (n > 1 && this.random() < 0.5) return this.entries[n - 1 - randomInt(this.random, 0, Math.min(n, 16) - 1)]!;
    return this.entries[randomInt(this.random, 0, n - 1)]!;
  }

  private blocksLine(): string {
    return `${this.reached.size} of ${this.coverage.blocks} blocks reached`;
  }

  /** Adds features; returns how many were new. */
  private learn(features: readonly number[]): number {
    let fresh = 0;
    for (const feature of features) {
      if (this.seen.has(feature)) continue;
      this.seen.add(feature);
      this.reached.add(blockOf(feature));
      fresh++;
    }
    return fresh;
  }

  private async keep(input: Buffer, fresh: readonly number[]): Promise<void> {
    const budget = this.options.minimizeBudget ?? 64;
    const smallest = await this.minimize(input, budget, (outcome, candidate) => {
      if (outcome.error !== null) throw new Found(candidate, outcome.error);
      const covered = new Set(outcome.features);
      return fresh.every((feature) => covered.has(feature));
    });
    // The minimised input covers the new features; record all it covers.
    const outcome = await this.execute(smallest);
    if (outcome.error !== null) throw new Found(smallest, outcome.error);
    this.learn(outcome.features);
    this.learn(fresh);
    this.entries.push(smallest);
    this.added++;
    if (this.options.persist) this.options.corpus?.add(smallest);
    if (this.options.cost) this.measure(smallest);
  }

  private measure(input: Buffer): void {
    const bounds = this.target.cost;
    if (bounds === undefined) return;
    // A measurement takes a second or so: the first new entries, then one in ten, and
    // none once ten inputs are over the bounds (the report shows ten at most).
    this.measured++;
    if (this.costly.length >= 10 || (this.measured > 20 && this.measured % 10 !== 0)) return;
    const cost = bounds.measure(input);
    if (cost === null || (cost.ms <= bounds.maxMs && cost.heapPerByte <= bounds.maxHeapPerByte)) return;
    this.costly.push({ input, ...cost });
    this.options.log?.(`${this.target.name}: COSTLY ${describeCost(cost)} for input ${hexOf(input)}`);
  }

  /**
   * Cuts ranges of halving sizes out of `input` while `keep` approves the result
   * (libFuzzer's -minimize_crash, simplified). A failure found meanwhile is thrown.
   */
  private async minimize(
    input: Buffer,
    budget: number,
    keep: (outcome: Outcome, candidate: Buffer) => boolean,
  ): Promise<Buffer> {
    let best = input;
    for (let size = best.length >> 1; size >= 1 && budget > 0; size >>= 1) {
      for (let at = 0; at + size <= best.length && budget > 0; ) {
        const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + size)]);
        budget--;
        if (keep(await this.execute(candidate), candidate)) best = candidate;
        else at += size;
      }
    }
    return best;
  }

  private async minimizeFailure(input: Buffer, error: unknown): Promise<Failure> {
    const wanted = signature(error);
    let smallest = input;
    let last = error;
    try {
      smallest = await this.minimize(input, 10 * (this.options.minimizeBudget ?? 64), (outcome) => {
        if (outcome.error === null || signature(outcome.error) !== wanted) return false;
        last = outcome.error;
        return true;
      });
    } catch {
      // A different failure while minimising: report the first one as found.
    }
    const property = last instanceof PropertyError ? last.property : wanted;
    return { property, message: describe(last), input: smallest, original: input };
  }

  /** Runs the target on a copy of `input` and takes the coverage it reached. */
  private async execute(input: Buffer): Promise<Outcome> {
    this.executions++;
    this.options.beforeExecute?.(input);
    let error: unknown = null;
    try {
      const result = this.target.run(Buffer.from(input));
      if (result !== undefined) await this.settle(result);
    } catch (caught) {
      error = caught ?? new Error('threw a nullish value');
    }
    return { features: this.coverage.take(), error };
  }

  private async settle(result: Promise<void>): Promise<void> {
    const hangAfter = this.options.hangAfter ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PropertyError('settles', `still pending after ${hangAfter} ms`)), hangAfter);
    });
    try {
      await Promise.race([result, hang]);
    } finally {
      clearTimeout(timer);
    }
  }
}
