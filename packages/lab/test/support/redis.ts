/**
 * A redis-server of a test's own, on a free 127.0.0.1 port with its config in a temp dir
 * (the lab's copy of the library's test helper, which lives outside this package's
 * build). Without the binary, `redisMissing` says why and the tests skip — except under
 * CI (`CI=true`), where they fail instead.
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

/** A free TCP port on 127.0.0.1 (free the moment this returns). */
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

export class RedisServer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'hotline-lab-redis-'));
    const file = path.join(dir, 'redis.conf');
    writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no', 'loglevel warning', 'logfile ""'].join('\n') + '\n');
    const child = spawn(BINARY, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const server = new RedisServer(port, child, dir);
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const deadline = Date.now() + 10_000;
    while ((await command(port, 'PING')) !== '+PONG') {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port} within 10 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** One inline command, its first reply line (`+PONG`, `:3`, `*2`...). */
  command(text: string): Promise<string | null> {
    return command(this.port, text);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An inline command over a raw connection (RESP), its first reply line; null when nothing answers. */
function command(port: number, text: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (line: string | null) => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(500, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write(`${text}\r\n`));
    socket.on('data', (data) => {
      reply += data.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end !== -1) done(reply.slice(0, end));
    });
  });
}
