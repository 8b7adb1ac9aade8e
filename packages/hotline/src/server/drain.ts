import { CloseCode } from '../errors.js';
import { ReadyState } from '../protocol/ready-state.js';
import type { Peer } from '../types.js';

/**
 * A drain: the peers a node holds are closed with 1012 (Service Restart, IANA's WebSocket
 * close code registry) one by one, each at a moment drawn uniformly at random within the
 * window, so that their clients — sent elsewhere by the load balancer, since the node no
 * longer listens — arrive at the other nodes in a trickle instead of a stampede that
 * would find their caches cold and their accept queues full.
 *
 * Only the timing lives here. The server refuses new handshakes, stops listening, and
 * once the drain is over closes itself exactly as `close()` does (dropping whoever is
 * left); a `close()` during the drain cuts it short (`stop`).
 */

/** The reason of a drain's Close: clients may show it, the code is what they act on. */
export const DRAIN_REASON = 'server restarting';

/** What a drain is told by its server. */
export interface DrainPlan {
  /** The open peers, every transport, at the start: nobody joins a draining node. */
  readonly peers: readonly Peer[];
  readonly window: number;
  readonly timeout: number;
  /** WebSocket peers still open (their `close` hook has not run yet). */
  readonly websocketsLeft: () => number;
  /** Resolves once every other transport has no peer left. */
  readonly transportsEmpty: Promise<unknown>;
  /** Uniform in [0, 1): the spread of the closes. */
  readonly random?: () => number;
}

export class Drain {
  /** Resolves when every peer has closed, at `window + timeout` at the latest, or on `stop`. */
  readonly over: Promise<void>;
  private resolveOver!: () => void;
  private readonly peers: Peer[];
  /** When each peer of `peers` (same index) is closed, in ms from the start, ascending. */
  private readonly times: Float64Array;
  private next = 0;
  private started = 0;
  private closer: ReturnType<typeof setTimeout> | null = null;
  private deadline: ReturnType<typeof setTimeout> | null = null;
  private transportsDone = false;
  private done = false;

  constructor(private readonly plan: DrainPlan) {
    this.over = new Promise<void>((resolve) => (this.resolveOver = resolve));
    const random = plan.random ?? Math.random;
    // A random order of the peers, closed at sorted uniform times: the same as a uniform
    // time drawn for each peer, with one timer walking the list instead of a timer per peer.
    this.peers = shuffle([...plan.peers], random);
    this.times = new Float64Array(this.peers.length);
    for (let i = 0; i < this.times.length; i++) this.times[i] = random() * plan.window;
    this.times.sort();
  }

  /** Starts the closes (those due at 0 ms at once) and the deadline. */
  start(): void {
    this.started = Date.now();
    this.deadline = setTimeout(() => this.finish(), this.plan.window + this.plan.timeout);
    void this.plan.transportsEmpty.then(() => {
      this.transportsDone = true;
      this.check();
    });
    this.closeDue();
  }

  /** A WebSocket peer closed (or a transport emptied): the drain may be over. */
  check(): void {
    if (!this.done && this.transportsDone && this.plan.websocketsLeft() === 0) this.finish();
  }

  /** `close()` takes over: no more closes from here. */
  stop(): void {
    this.finish();
  }

  private closeDue(): void {
    this.closer = null;
    if (this.done) return;
    const elapsed = Date.now() - this.started;
    const { peers, times } = this;
    while (this.next < peers.length && times[this.next]! <= elapsed) {
      const peer = peers[this.next]!;
      // The list is the peers of the start: one may have closed (or been closed) since.
      peers[this.next++] = undefined as never;
      if (peer.readyState !== ReadyState.OPEN) continue;
      try {
        peer.close(CloseCode.SERVICE_RESTART, DRAIN_REASON);
      } catch {
        // A peer that cannot close now is dropped at the deadline: the others go on.
      }
    }
    if (this.next < peers.length) this.closer = setTimeout(() => this.closeDue(), Math.max(1, times[this.next]! - elapsed));
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.closer !== null) clearTimeout(this.closer);
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.closer = this.deadline = null;
    this.resolveOver();
  }
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = items[i]!;
    items[i] = items[j]!;
    items[j] = swap;
  }
  return items;
}
