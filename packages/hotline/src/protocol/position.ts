/**
 * Where a publication stands in its topic's stream: the topic's `epoch` and the
 * publication's `offset` in it.
 *
 * Offsets are 1, 2, 3, ... per topic and epoch, assigned by the engine in the order it
 * delivers (total order per topic). An epoch is an opaque token (base64url, at most 32
 * characters) that changes whenever the stream's history may have been lost — a memory
 * engine's process restarted, Redis restarted without persistence, the topic's keys
 * expired — so that a position from an old epoch is never mistaken for one in the new.
 */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * Why a subscriber could not be given everything it missed. The application learns it
 * (client `recovery` event, `recovered: false`) and refetches its state.
 *
 * - `epoch`: the topic's history was reset since the position (a broker restart without
 *   persistence, a memory engine's restart, a failover): what was published in between
 *   is unknown.
 * - `retention`: the history is bounded (`historySize`) and no longer reaches back to
 *   the position.
 * - `ttl`: the history expired (`historyTtl`) since the position.
 */
export type RecoveryReason = 'epoch' | 'retention' | 'ttl';

/** An epoch: base64url, 1 to 32 characters. */
export const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** True for an offset an engine can have assigned: a positive safe integer. */
export function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}
