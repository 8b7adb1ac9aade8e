/** Test cluster: Hotline nodes in child processes, each with its own port, on one Redis. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/redis-server.js';

const NODE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node.child.js');

export class ClusterNode {
  private constructor(
    private child: ChildProcess,
    readonly port: number,
    private readonly redisUrl: string,
  ) {}

  static async start(redisUrl: string): Promise<ClusterNode> {
    const { child, port: bound } = await launch(redisUrl, await freePort());
    return new ClusterNode(child, bound, redisUrl);
  }

  /** `kill -9`: the node's sockets, sessions and presence die with it. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** Starts it again on the same port (a restarted node: a new instance id). */
  async restart(): Promise<void> {
    await this.kill();
    this.child = (await launch(this.redisUrl, this.port)).child;
  }
}

async function launch(redisUrl: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [NODE_SCRIPT, redisUrl, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bound = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('a cluster node did not start within 10 s')), 10_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`a cluster node exited (${code}) before it listened`)));
  });
  return { child, port: bound };
}
