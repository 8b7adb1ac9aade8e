import type { NodeDirectory } from '../../src/pubsub/engine.js';
import { MemoryEngine } from '../../src/pubsub/memory-engine.js';
import type { PublishedMessage } from '../../src/pubsub/message.js';

/**
 * One node directory shared by several `MemoryEngine`s in this process: what a broker
 * engine's directory is across processes (Redis), so that two servers in one test see
 * each other. Nodes can be forgotten (a node that died) and lookups made to fail (the
 * broker down); every lookup is counted, so a test knows routing happened.
 */
export class SharedDirectory {
  readonly urls = new Map<string, string>();
  lookups = 0;
  /** While set, every lookup rejects with it. */
  failing: Error | null = null;

  /** A memory engine whose `nodes` is this directory. */
  engine<M extends PublishedMessage>(): MemoryEngine<M> {
    const directory = this;
    return new (class extends MemoryEngine<M> {
      override readonly nodes: NodeDirectory = directory.member(() => this.instanceId);
    })();
  }

  /** The directory as one node sees it: it advertises under its own id. */
  member(instanceId: () => string): NodeDirectory {
    return {
      advertise: (url) => {
        this.urls.set(instanceId(), url);
      },
      lookup: (id) => {
        this.lookups++;
        if (this.failing !== null) return Promise.reject(this.failing);
        // Asynchronous like a broker's answer: the request waits a turn for it.
        return new Promise((resolve) => setImmediate(() => resolve(this.urls.get(id))));
      },
    };
  }

  /** The node left (it died, its entry expired). */
  forget(instanceId: string): void {
    this.urls.delete(instanceId);
  }
}
