// The channel between the soak and the processes it starts: requests `{ id, op, ... }`
// answered `{ id, ...answer }`, one `{ ready: ... }` message when a process is up, and
// teardown however the soak ends (a child whose channel closes exits at once).
import { spawn } from 'node:child_process';

// The soak's processes hold thousands of sockets each: raise the open-files limit as far
// as this machine allows (an unprivileged process can go up to its hard limit).
const RAISE_NOFILE = 'ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

const live = new Set();

/** Kills every child still running (SIGKILL): the last resort, on exit. */
export function killChildren() {
  for (const child of live) child.process.kill('SIGKILL');
  live.clear();
}
process.on('exit', killChildren);

export class Child {
  exited = null;
  output = '';
  ready;
  nextId = 1;
  pending = new Map();

  /** `nice`: a niceness for the process (0: as the soak's own). */
  constructor(name, script, args, { nodeArgs = [], env, nice = 0 } = {}) {
    this.name = name;
    const command = [process.execPath, ...nodeArgs, script, ...args];
    this.process = spawn('sh', ['-c', RAISE_NOFILE, 'sh', ...(nice > 0 ? ['nice', '-n', String(nice)] : []), ...command], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    });
    live.add(this);
    const keep = (chunk) => {
      this.output = (this.output + chunk).slice(-8000);
    };
    this.process.stdout.on('data', keep);
    this.process.stderr.on('data', keep);
    this.exit = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.exited = { code, signal };
        live.delete(this);
        for (const { reject } of this.pending.values()) reject(new Error(`${name} exited (${code ?? signal}): ${this.tail()}`));
        this.pending.clear();
        resolve(this.exited);
      });
    });
    this.ready = new Promise((resolve, reject) => {
      this.process.on('message', (message) => {
        if (message.ready !== undefined) return resolve(message.ready);
        const waiter = this.pending.get(message.id);
        if (waiter === undefined) return;
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`));
        else waiter.resolve(message);
      });
      this.exit.then(() => reject(new Error(`${name} exited (${this.exited.code ?? this.exited.signal}) before it was ready: ${this.tail()}`)));
    });
    this.ready.catch(() => {});
  }

  tail() {
    return this.output.trim().split('\n').slice(-8).join('\n') || 'no output';
  }

  /** Sends a request; rejects when the child exits or does not answer within `timeoutMs`. */
  request(op, args = {}, timeoutMs = 30_000) {
    if (this.exited !== null || !this.process.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer ${op} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      this.process.send({ id, op, ...args });
    });
  }

  /** Asks politely (SIGTERM), then forces. */
  async stop(graceMs = 5_000) {
    if (this.exited !== null) return this.exited;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const exited = await this.exit;
    clearTimeout(timer);
    return exited;
  }
}

/**
 * The child's side: answers requests with `ops[op](message)` and exits when the soak's
 * channel closes (the soak ended, or was killed), so that no client outlives it.
 */
export function serveRequests(ops) {
  process.on('message', async (message) => {
    const op = ops[message.op];
    try {
      if (op === undefined) throw new Error(`unknown op ${message.op}`);
      process.send({ id: message.id, ...((await op(message)) ?? {}) });
    } catch (error) {
      process.send({ id: message.id, error: error?.stack ?? String(error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  // A Ctrl-C reaches the whole process group: the soak itself decides when children go.
  process.on('SIGINT', () => {});
}

/** The child tells the soak it is up. */
export function announceReady(value) {
  process.send({ ready: value });
}

/** The open-files limit this process got. */
export async function openFilesLimit() {
  const { readFileSync } = await import('node:fs');
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return line === undefined ? NaN : Number(line.split(/\s+/)[3]);
}
