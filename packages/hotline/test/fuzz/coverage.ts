/**
 * Block coverage of the library, from V8 through `node:inspector`, as a set of small
 * integers per execution ("features"), which is what the fuzzer compares inputs by.
 *
 * V8's precise coverage in count mode (`callCount: true`) resets its counters on every
 * `takePreciseCoverage`, so each call reports exactly the execution since the last one.
 * In detailed mode it reports, for each invoked function, nested source ranges with
 * their counts, but it drops a range whose count equals its parent's (V8
 * `MergeNestedRanges`): a block missing from a report ran as often as the innermost
 * reported range around it. So every range ever reported is remembered per function,
 * and a report is read back into a count for each known block. A feature is a block and
 * the bucket of its count (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+, as AFL buckets hit
 * counts): a loop that runs more often is new behaviour too, not only a new branch.
 */
import { Session } from 'node:inspector';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: Range[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

const BUCKETS = 8;

function bucket(count: number): number {
  if (count <= 3) return count - 1;
  if (count < 8) return 3;
  if (count < 16) return 4;
  if (count < 32) return 5;
  if (count < 128) return 6;
  return 7;
}

/** A block of code no input reached, in the compiled script. */
export interface Gap {
  readonly url: string;
  readonly start: number;
  readonly end: number;
}

/** The block a feature counts. */
export function blockOf(feature: number): number {
  return Math.floor(feature / BUCKETS);
}

/** The blocks seen so far in one function: ids and offsets, outermost (the function) first. */
interface KnownFunction {
  url: string;
  ids: number[];
  starts: number[];
  ends: number[];
}

export class BlockCoverage {
  private readonly session = new Session();
  /** Only scripts whose URL starts with this are measured (the code under test). */
  private readonly prefix: string;
  private readonly functions = new Map<string, KnownFunction>();
  private blockCount = 0;
  private started = false;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Blocks known so far (for progress reports: it grows as the fuzzer finds code). */
  get blocks(): number {
    return this.blockCount;
  }

  /** Where the known blocks that `reached` lacks are: script URL and source offsets. */
  gaps(reached: ReadonlySet<number>): Gap[] {
    const out: Gap[] = [];
    for (const known of this.functions.values()) {
      known.ids.forEach((id, i) => {
        if (!reached.has(id)) out.push({ url: known.url, start: known.starts[i]!, end: known.ends[i]! });
      });
    }
    return out;
  }

  start(): void {
    if (this.started) return;
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.started = true;
    this.take(); // drop what ran before
  }

  stop(): void {
    if (!this.started) return;
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.session.disconnect();
    this.started = false;
  }

  /** The features of everything run since the last call. */
  take(): number[] {
    const { result } = this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    const features: number[] = [];
    for (const script of result) {
      if (!script.url.startsWith(this.prefix)) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (ranges.length === 0 || ranges[0]!.count === 0) continue;
        const known = this.know(script.url, ranges);
        this.countBlocks(known, ranges, features);
      }
    }
    return features;
  }

  /** Records ranges never seen before in this function; returns its known blocks. */
  private know(url: string, ranges: readonly Range[]): KnownFunction {
    const key = `${url}:${ranges[0]!.startOffset}`;
    let known = this.functions.get(key);
    if (known === undefined) {
      known = { url, ids: [], starts: [], ends: [] };
      this.functions.set(key, known);
    }
    for (const range of ranges) {
      let seen = false;
      for (let i = 0; i < known.starts.length; i++) {
        if (known.starts[i] === range.startOffset && known.ends[i] === range.endOffset) {
          seen = true;
          break;
        }
      }
      if (!seen) {
        known.ids.push(this.blockCount++);
        known.starts.push(range.startOffset);
        known.ends.push(range.endOffset);
      }
    }
    return known;
  }

  /** Each known block's count: that of the innermost reported range containing it. */
  private countBlocks(known: KnownFunction, ranges: readonly Range[], features: number[]): void {
    for (let b = 0; b < known.ids.length; b++) {
      const start = known.starts[b]!;
      const end = known.ends[b]!;
      // V8 sorts ranges by start, outer before inner: the last container wins.
      let count = 0;
      let found = false;
      for (const range of ranges) {
        if (range.startOffset > start) break;
        if (range.endOffset >= end) {
          count = range.count;
          found = true;
        }
      }
      if (found && count > 0) features.push(known.ids[b]! * BUCKETS + bucket(count));
    }
  }

  private post(method: string, params?: object): unknown {
    let failure: Error | null = null;
    let answer: unknown;
    // A session on this thread answers synchronously, inside `post`.
    this.session.post(method, params ?? {}, (error, result) => {
      failure = error;
      answer = result;
    });
    if (failure !== null) throw failure;
    return answer;
  }
}
