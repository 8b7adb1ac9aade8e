import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type NodeReport, type NodeState, type NodeStats, RESTART_DELAY_MS } from './cluster-protocol.js';

const NODE_SCRIPT = fileURLToPath(new URL('./cluster-node.js', import.meta.url));
/** A node that has not said it listens by then is killed and started again. */
const START_TIMEOUT_MS = 10_000;

/**
 * One node process of the cluster lab, kept alive by its parent: started on its port,
 * marked down the moment it exits (killed from the page, or crashed), and started again
 * on the same port `RESTART_DELAY_MS` later, until `stop`.
 */
export class NodeProcess {
  private child: ChildProcess | null = null;
  private state: NodeState = 'starting';
  private counts = { clients: 0, delivered: 0, replayed: 0, recovered: 0, unrecovered: 0 };
  /** What earlier lives of this node delivered (the counts restart with each process). */
  private past = { delivered: 0, replayed: 0, recovered: 0, unrecovered: 0 };
  private restarts = 0;
  private lastExit: string | null = null;
  private killing = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly index: number,
    readonly port: number,
    private readonly redisUrl: string,
  ) {}

  get up(): boolean {
    return this.state === 'up';
  }

  /** Starts the process; resolves once it listens (or at once if it exits first: it is restarted). */
  start(): Promise<void> {
    const child = fork(NODE_SCRIPT, [this.redisUrl, String(this.port), String(this.index)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.child = child;
    this.state = 'starting';
    this.counts = { clients: 0, delivered: 0, replayed: 0, recovered: 0, unrecovered: 0 };
    this.startTimer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
    child.on('message', (message: NodeReport) => {
      if (message.type === 'listening') {
        clearTimeout(this.startTimer!);
        this.state = 'up';
        this.notify();
      } else if (message.type === 'stats') {
        const { clients, delivered, replayed, recovered, unrecovered } = message;
        this.counts = { clients, delivered, replayed, recovered, unrecovered };
      }
    });
    child.on('exit', (code, signal) => this.exited(child, code, signal));
    return new Promise((resolve) => {
      const done = () => {
        if (this.state === 'starting') return;
        this.listeners.delete(done);
        resolve();
      };
      this.listeners.add(done);
    });
  }

  /** SIGKILL, as a crash: no close handshake, no drain, its sockets reset by the kernel. False if it is down (or going). */
  kill(): boolean {
    if (this.child === null || this.state === 'down' || this.killing) return false;
    this.killing = true;
    this.child.kill('SIGKILL');
    return true;
  }

  /** Ends the node for good (SIGTERM: it closes its clients), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const lingering = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(lingering);
  }

  stats(forwarded: number): NodeStats {
    return {
      index: this.index,
      state: this.state,
      port: this.port,
      pid: this.state === 'down' ? null : (this.child?.pid ?? null),
      clients: this.state === 'up' ? this.counts.clients : 0,
      delivered: this.past.delivered + this.counts.delivered,
      replayed: this.past.replayed + this.counts.replayed,
      recovered: this.past.recovered + this.counts.recovered,
      unrecovered: this.past.unrecovered + this.counts.unrecovered,
      forwarded,
      restarts: this.restarts,
      lastExit: this.lastExit,
    };
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    clearTimeout(this.startTimer!);
    this.lastExit = this.killing ? 'killed' : signal !== null ? `died (${signal})` : `exited (${code})`;
    this.killing = false;
    this.state = 'down';
    for (const key of ['delivered', 'replayed', 'recovered', 'unrecovered'] as const) this.past[key] += this.counts[key];
    this.counts = { clients: 0, delivered: 0, replayed: 0, recovered: 0, unrecovered: 0 };
    this.notify();
    if (this.stopped) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restarts++;
      void this.start();
    }, RESTART_DELAY_MS);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
