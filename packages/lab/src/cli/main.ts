/**
 * `hotline-lab serve | bench transports`. The library's own `hotline serve` and
 * `hotline bench` hand over to `runLab` when this package is installed.
 */
import { UsageError } from './args.js';
import { BENCH_TRANSPORTS_USAGE, benchTransportsCommand } from './bench-transports.js';
import { SERVE_USAGE, serveCommand } from './serve.js';

export const LAB_USAGE = `Usage: hotline-lab <command> [options]   (or: hotline <command>)

Commands:
  serve   [--port N] [--host H] [--rate R] [--size BYTES] [--interval MS] [--http2]
          [--redis URL [--nodes N]]       the lab: WebSocket against polling, long polling
                                          and SSE, measured live (default 127.0.0.1:8080);
                                          --redis: its topics through Redis; --nodes 2-8:
                                          as N nodes behind a round-robin balancer, a node
                                          killed from the page and its clients recovering
  bench transports [--clients N] [--rate R] [--duration S] [--interval MS] [--http2]
                                          every transport under N simulated clients:
                                          a table and a Markdown report with charts
`;

/** Runs one lab command; resolves to the exit code. Usage mistakes throw `UsageError`. */
export async function runLab(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest, untilSignal);
    case 'bench': {
      const [what, ...options] = rest;
      if (what === 'transports') return benchTransportsCommand(options);
      if (what === undefined || what === '-h' || what === '--help') {
        process.stdout.write(BENCH_TRANSPORTS_USAGE);
        return what === undefined ? 1 : 0;
      }
      throw new UsageError(`unknown bench ${JSON.stringify(what)} (known: transports)`);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(LAB_USAGE);
      return command === undefined ? 1 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (known: serve, bench)`);
  }
}

export { SERVE_USAGE, BENCH_TRANSPORTS_USAGE, UsageError };

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** The `hotline-lab` command (bin/hotline-lab.js): runs `argv` and sets the exit code. */
export async function runLabMain(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await runLab(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`hotline-lab: ${error.message}\n\n${LAB_USAGE}`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`hotline-lab: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  }
}
