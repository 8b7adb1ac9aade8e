/**
 * What the cluster lab's processes and its page share: the paths, the topic, the messages
 * a node sends its parent over IPC, and the JSON of `GET /cluster/stats`. No Node imports:
 * the page is built from it too.
 */

/** The route every node serves over every streaming transport; the balancer forwards it. */
export const FEED_PATH = '/lab/cluster/feed';
/** The one topic of the cluster lab: one publisher, every node's clients. */
export const FEED_TOPIC = 'lab/cluster';
export const STATS_PATH = '/cluster/stats';
export const KILL_PATH = '/cluster/kill';
/** A killed (or dead) node is started again after this long: long enough to see it down. */
export const RESTART_DELAY_MS = 2000;
/** Bounds of `hotline serve --nodes`. */
export const NODE_LIMITS = { min: 2, max: 8 } as const;

/** The first message a node sends each client on the feed (a `peer.send`, no topic): who serves it. */
export interface NodeHello {
  readonly node: number;
}

/** Node → parent, over IPC. */
export type NodeReport =
  | { readonly type: 'listening'; readonly port: number }
  | {
      readonly type: 'stats';
      /** Clients on the feed route now. */
      readonly clients: number;
      /** Publications handed to this node's clients live, counted per client. */
      readonly delivered: number;
      /** Publications replayed to clients that came back with a position. */
      readonly replayed: number;
      /** Recoveries this node answered: whole, and not (a reason given). */
      readonly recovered: number;
      readonly unrecovered: number;
    };

export type NodeState = 'starting' | 'up' | 'down';

export interface NodeStats {
  readonly index: number;
  readonly state: NodeState;
  readonly port: number;
  readonly pid: number | null;
  readonly clients: number;
  readonly delivered: number;
  readonly replayed: number;
  readonly recovered: number;
  readonly unrecovered: number;
  /** Requests and upgrades the balancer sent it, since the lab started. */
  readonly forwarded: number;
  /** Times it was started again (after a kill from the page, or a death). */
  readonly restarts: number;
  /** Why it is down, or why it went down last: 'killed' from the page, or how it exited. */
  readonly lastExit: string | null;
}

export interface ClusterStats {
  readonly nodes: readonly NodeStats[];
  readonly publisher: {
    readonly rate: number;
    /** Publishes Redis acknowledged. */
    readonly acknowledged: number;
    /** Publishes that failed (Redis unreachable): not published, so no client misses them. */
    readonly failed: number;
    /** Position of the last acknowledged publish. */
    readonly last: { readonly epoch: string; readonly offset: number } | null;
  };
}
