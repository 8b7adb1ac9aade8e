/**
 * A redis-server of a test's own: started on a free 127.0.0.1 port with its config in a
 * temp dir, so a test can kill it (`kill -9`), restart it (with or without its append-only
 * file) and stop it. Without the binary, `redisAvailable` says why, and the tests that need
 * it skip — except under CI (`CI=true`), where they fail instead.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BINARY = 'redis-server';

/** undefined when redis-server can run here; otherwise the reason, for `skip`. */
export function redisMissing(): string | undefined {
  const found = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (found.error === undefined && found.status === 0) return undefined;
  const why = `${BINARY} is not installed (apt-get install -y redis-server): the Redis tests are skipped`;
  if (process.env.CI === 'true') throw new Error(`${why} — and CI=true, so this is a failure`);
  return why;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; it is free the moment this returns). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface RedisOptions {
  /** Append-only file with `appendfsync always`: a restart keeps every acknowledged write. */
  persistent?: boolean;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'hotline-redis-'));

  private constructor(
    readonly port: number,
    private readonly options: RedisOptions,
  ) {}

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on the same port and dir; resolves once it accepts commands. */
  async launch(): Promise<void> {
    const config = [
      `port ${this.port}`,
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      'save ""',
      `appendonly ${this.options.persistent === true ? 'yes' : 'no'}`,
      'appendfsync always',
      'daemonize no',
      'loglevel warning',
      'logfile ""',
    ].join('\n');
    const file = path.join(this.dir, 'redis.conf');
    writeFileSync(file, config + '\n');
    const child = spawn(BINARY, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.port} within 10 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** `kill -9`: no shutdown, nothing saved that was not saved already. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether a Redis answers PING on `port` (one raw RESP exchange). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
