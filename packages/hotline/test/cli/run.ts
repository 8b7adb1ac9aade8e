/** The CLI as a child process: run to completion with piped stdin, or `hotline echo` started on a free port. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { withTimeout } from '../support/timing.js';
import { MAIN } from './pty.js';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `hotline ARGS` with `input` on stdin (a pipe); killed after `ms`. */
export function run(args: string[], input = '', ms = 20_000): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.NO_COLOR;
    const child = execFile(process.execPath, [MAIN, ...args], { timeout: ms, env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin!.end(input);
  });
}

export interface Echo {
  child: ChildProcess;
  port: number;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `hotline echo` on 127.0.0.1, on a free port, and waits for its banner. */
export async function startEcho(extra: string[] = []): Promise<Echo> {
  const child = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`hotline echo exited with ${code}`)));
    }),
    5000,
    'hotline echo to listen',
  );
  return {
    child,
    port,
    exited,
    async stop() {
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'hotline echo to exit');
    },
  };
}

/** A port nothing listens on (taken from the kernel, then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
