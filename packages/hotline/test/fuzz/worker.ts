/**
 * One target's long run, in a worker thread, so that `main.ts` can name the input of a
 * hang: before each execution the input is copied into shared memory and a counter is
 * bumped; a parser stuck in a loop stops the counter, and the main thread reads the input.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Corpus } from './corpus.js';
import { Fuzzer, type FuzzReport } from './fuzzer.js';
import { TARGETS } from './targets/index.js';

export interface WorkerTask {
  mode: 'fuzz' | 'merge';
  target: string;
  seed: number;
  time: number;
  executions: number;
  persist: boolean;
  cost: boolean;
  /** Int32 [0] executions, [1] input length, then the input bytes from byte 8. */
  shared: SharedArrayBuffer;
  corpusRoot?: string;
}

export type WorkerMessage =
  | { type: 'log'; line: string }
  | { type: 'report'; report: FuzzReport }
  | { type: 'merged'; before: number; after: number };

const task = workerData as WorkerTask;
const target = TARGETS.find((t) => t.name === task.target)!;
const counters = new Int32Array(task.shared, 0, 2);
const bytes = new Uint8Array(task.shared, 8);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);

const corpus = new Corpus(target.name, ...(task.corpusRoot === undefined ? [] : [task.corpusRoot]));
const fuzzer = new Fuzzer(target, {
  seed: task.seed,
  time: task.time,
  executions: task.executions,
  corpus,
  persist: task.persist,
  cost: task.cost,
  minimizeBudget: 256,
  log: (line) => post({ type: 'log', line }),
  beforeExecute: (input) => {
    const length = Math.min(input.length, bytes.length);
    bytes.set(input.subarray(0, length));
    counters[1] = length;
    Atomics.add(counters, 0, 1);
  },
});

if (task.mode === 'merge') {
  const entries = corpus.load('mergeable');
  const kept = await fuzzer.merge(entries);
  corpus.replace(kept);
  post({ type: 'merged', before: entries.length, after: kept.length });
} else {
  post({ type: 'report', report: await fuzzer.run() });
}
