import type { NodeDirectory } from '../pubsub/engine.js';
import { type Commands, text } from './commands.js';
import type { Keys } from './keys.js';

/**
 * The nodes sharing a Redis, each under a key with its advertised URL that lives
 * `presenceTtl` ms and is refreshed every third of it: a node that crashed is gone from
 * the directory within that time, and its sessions are then answered as unknown.
 */
export class RedisNodeDirectory implements NodeDirectory {
  private url: string | null = null;
  /**
   * Lookups in flight, by instance id. When a node dies, every client of its HTTP sessions
   * comes back with a session id that names it, and each request asks where that node is:
   * those asked while a GET for it is on its way share that GET. None is kept past its
   * answer, so that a node that left is forgotten at once.
   */
  private readonly asking = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly commands: Commands,
    private readonly keys: Keys,
    private readonly instanceId: string,
    private readonly ttl: number,
    private readonly report: (error: Error) => void,
  ) {}

  advertise(url: string): void {
    this.url = url;
    this.refresh().catch((error) => this.report(error));
  }

  lookup(instanceId: string): Promise<string | undefined> {
    if (instanceId === this.instanceId) return Promise.resolve(this.url ?? undefined);
    const asking = this.asking.get(instanceId);
    if (asking !== undefined) return asking;
    const answer = this.commands.send(['GET', this.keys.node(instanceId)]).then((reply) => (reply === null || reply === undefined ? undefined : text(reply)));
    this.asking.set(instanceId, answer);
    const done = () => void this.asking.delete(instanceId);
    answer.then(done, done);
    return answer;
  }

  async refresh(): Promise<void> {
    if (this.url !== null) await this.commands.send(['SET', this.keys.node(this.instanceId), this.url, 'PX', String(this.ttl)]);
  }

  /** The node stops: it leaves the directory at once. */
  async close(): Promise<void> {
    if (this.url === null) return;
    this.url = null;
    await this.commands.send(['DEL', this.keys.node(this.instanceId)]);
  }
}
