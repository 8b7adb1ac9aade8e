/**
 * A command run in a real pseudo-terminal, through util-linux `script` (on every Debian
 * by default; no native module): keys go in as a person types them, the screen output
 * comes back with its escape sequences.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export function ptyAvailable(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Keys as a terminal sends them (ECMA-48 / xterm). */
export const KEY = { enter: '\r', up: '\x1b[A', down: '\x1b[B', ctrlC: '\x03', ctrlD: '\x04' } as const;

export class Pty {
  output = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private waiters: Array<() => void> = [];

  /** Runs `hotline ARGS` on a terminal; `env` adds to (or, with undefined, removes from) the environment. */
  constructor(args: string[], env: Record<string, string | undefined> = {}) {
    const command = [process.execPath, MAIN, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
    const environment: Record<string, string | undefined> = { ...process.env, TERM: 'xterm-256color', NO_COLOR: undefined, ...env };
    for (const key of Object.keys(environment)) if (environment[key] === undefined) delete environment[key];
    this.child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: environment as NodeJS.ProcessEnv });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  write(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Resolves with the output once `pattern` appears in it after `from`; rejects after `ms`. */
  async waitFor(pattern: RegExp | string, ms = 5000, from = 0): Promise<string> {
    const found = () => (typeof pattern === 'string' ? this.output.indexOf(pattern, from) >= 0 : pattern.test(this.output.slice(from)));
    const deadline = Date.now() + ms;
    while (!found()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(pattern)}; screen so far: ${JSON.stringify(this.output)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.output;
  }

  async exit(ms = 5000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not exited after ${ms} ms; screen: ${JSON.stringify(this.output)}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** The output without escape sequences and carriage returns: what a person reads. */
export function visible(output: string): string {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}
