/** `hotline serve` (the real CLI, bin/hotline-lab.js) in a child process, for the tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/support/ -> the lab package
export const LAB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = path.join(LAB_ROOT, 'bin', 'hotline-lab.js');

export interface Serving {
  readonly child: ChildProcess;
  /** http://127.0.0.1:port (https:// with --http2) */
  readonly origin: string;
  /** Everything it printed so far. */
  output(): string;
  /** Ctrl-C, and its exit code once it has stopped. */
  stop(): Promise<number | null>;
}

/** Starts `serve args…` and resolves once its banner (ending "Ctrl-C to stop.") is printed. */
export async function startServe(args: readonly string[], timeout = 20_000): Promise<Serving> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args], { cwd: LAB_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within ${timeout} ms:\n${out}`)), timeout);
    const look = () => {
      const match = /Hotline lab: (https?:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (match && out.includes('Ctrl-C to stop')) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) => reject(new Error(`hotline serve exited (${code}):\n${out}`)));
  });
  return {
    child,
    origin,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** Runs `serve args…` to its end (a usage error, an unreachable Redis): exit code and output. */
export function runServe(args: readonly string[], timeout = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args], { cwd: LAB_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve ${args.join(' ')} still running after ${timeout} ms:\n${stdout}${stderr}`));
    }, timeout);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
