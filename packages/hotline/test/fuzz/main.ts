/**
 * `npm run fuzz`: the long runs, by hand.
 *
 *   npm run fuzz -- [--time S] [--seed N] [--target NAME]... [--executions N]
 *                   [--no-persist] [--hang S] [--merge] [--input HEX]
 *
 * Each target runs in turn, in a worker thread, for `--time` seconds (default 60), from
 * its corpus (`test/fuzz/corpus/<target>/`) plus its seeds; new inputs that reach new
 * coverage are written to the corpus unless `--no-persist`. Prints executions, coverage
 * and corpus growth as it goes, and any failure with its minimised input in hex. An
 * input that stops the worker for `--hang` seconds (default 10) is reported as a hang.
 *
 *   --merge        shrink each corpus to the entries that add coverage (then commit it)
 *   --input HEX    run one input on one `--target` and print what happens
 *
 * The exit code is 1 when anything failed.
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { type FuzzReport, describeCost } from './fuzzer.js';
import { PropertyError, describe, hexOf } from './target.js';
import { TARGETS } from './targets/index.js';
import type { WorkerMessage, WorkerTask } from './worker.js';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '60' },
    seed: { type: 'string' },
    target: { type: 'string', multiple: true },
    executions: { type: 'string' },
    'no-persist': { type: 'boolean', default: false },
    hang: { type: 'string', default: '10' },
    merge: { type: 'boolean', default: false },
    input: { type: 'string' },
  },
});

const seed = values.seed === undefined ? Date.now() % 0x1_0000_0000 : Number(values.seed);
const names = values.target ?? TARGETS.map((t) => t.name);
const unknown = names.filter((name) => !TARGETS.some((t) => t.name === name));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

const SHARED_BYTES = 8 + 64 * 1024;

interface Outcome {
  report: FuzzReport | null;
  merged: { before: number; after: number } | null;
  hang: Buffer | null;
  crash: string | null;
}

function runWorker(task: Omit<WorkerTask, 'shared'>, hangSeconds: number): Promise<Outcome> {
  const shared = new SharedArrayBuffer(SHARED_BYTES);
  const counters = new Int32Array(shared, 0, 2);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...task, shared } });
  const outcome: Outcome = { report: null, merged: null, hang: null, crash: null };
  return new Promise((resolve) => {
    let last = -1;
    let still = 0;
    const watchdog = setInterval(() => {
      const now = Atomics.load(counters, 0);
      still = now === last ? still + 1 : 0;
      last = now;
      if (still < hangSeconds) return;
      const length = Atomics.load(counters, 1);
      outcome.hang = Buffer.from(new Uint8Array(shared, 8, length));
      void worker.terminate();
    }, 1000);
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'log') console.log(message.line);
      else if (message.type === 'report') outcome.report = message.report;
      else outcome.merged = { before: message.before, after: message.after };
    });
    worker.on('error', (error) => {
      outcome.crash = describe(error);
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      resolve(outcome);
    });
  });
}

async function replayOne(name: string, hex: string): Promise<boolean> {
  const target = TARGETS.find((t) => t.name === name)!;
  const input = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  try {
    await target.run(input);
    console.log(`${name}: passes on ${hexOf(input)}`);
    return true;
  } catch (error) {
    console.log(`${name}: FAILS on ${hexOf(input)}\n  ${error instanceof PropertyError ? error.message : describe(error)}`);
    if (!(error instanceof PropertyError)) console.log(error);
    return false;
  }
}

async function main(): Promise<number> {
  if (values.input !== undefined) {
    if (names.length !== 1) {
      console.error('--input needs exactly one --target');
      return 2;
    }
    return (await replayOne(names[0]!, values.input)) ? 0 : 1;
  }
  const hang = Number(values.hang);
  let failed = false;
  const rows: string[] = [];
  for (const name of names) {
    const outcome = await runWorker(
      {
        mode: values.merge ? 'merge' : 'fuzz',
        target: name,
        seed,
        time: Number(values.time) * 1000,
        executions: values.executions === undefined ? Infinity : Number(values.executions),
        persist: !values['no-persist'],
        cost: true,
      },
      values.merge ? Infinity : hang,
    );
    if (outcome.merged !== null) {
      rows.push(`${name}: corpus merged ${outcome.merged.before} -> ${outcome.merged.after} entries`);
      continue;
    }
    if (outcome.hang !== null) {
      failed = true;
      rows.push(`${name}: HANG (no execution finished for ${hang} s) on input ${hexOf(outcome.hang)}`);
      continue;
    }
    if (outcome.crash !== null || outcome.report === null) {
      failed = true;
      rows.push(`${name}: CRASH of the worker: ${outcome.crash ?? 'no report'}`);
      continue;
    }
    const r = outcome.report;
    rows.push(
      `${name}: ${r.executions} execs in ${(r.ms / 1000).toFixed(0)} s (${Math.round(r.executions / (r.ms / 1000))}/s), ` +
        `corpus ${r.corpusBefore} -> ${r.corpusBefore + r.added} (+${r.added}), ${r.features} features, ${r.reached} of ${r.blocks} blocks reached, ` +
        `${r.costly.length} costly`,
    );
    for (const gap of r.gaps.slice(0, 20)) rows.push(`  never reached: ${gap}`);
    if (r.gaps.length > 20) rows.push(`  never reached: ${r.gaps.length - 20} more`);
    for (const costly of r.costly) rows.push(`  COSTLY ${describeCost(costly)}: ${hexOf(costly.input)}`);
    if (r.failure !== null) {
      failed = true;
      rows.push(
        `  FAILURE ${r.failure.property}\n    ${r.failure.message}\n    input (minimised) ${hexOf(r.failure.input)}\n` +
          `    replay: npm run fuzz -- --target ${name} --input ${hexOf(r.failure.input)}`,
      );
    }
  }
  console.log(`\nseed ${seed}`);
  for (const row of rows) console.log(row);
  return failed ? 1 : 0;
}

process.exitCode = await main();
