import { checkOptions, invalidArgument, shown } from '../errors.js';

/** What every engine keeps of a topic's stream, and for how long. */
export interface EngineOptions {
  /**
   * Publications kept per topic for recovery. Default 1,000: a client away for a
   * redeploy (seconds) on a topic of a few hundred messages a second gets everything
   * back; a larger history costs memory (or Redis memory) per topic.
   */
  historySize?: number;
  /**
   * ms a topic's history is kept after its last publish. Default 300,000 (5 min): longer
   * than any reconnection a client makes on its own, short enough that idle topics free
   * their memory.
   */
  historyTtl?: number;
  /**
   * ms within which a publish with the same `id` on a topic is not made twice. Default
   * 120,000 (2 min): covers a publisher's retries after a timeout, with room to spare.
   */
  dedupWindow?: number;
  /**
   * ms after which a node's presence members are gone when it stops refreshing them (it
   * crashed). Default 30,000; the node refreshes every third of it.
   */
  presenceTtl?: number;
}

export type ResolvedEngineOptions = Required<EngineOptions>;

export const ENGINE_DEFAULTS: ResolvedEngineOptions = {
  historySize: 1_000,
  historyTtl: 300_000,
  dedupWindow: 120_000,
  presenceTtl: 30_000,
};

/** Most publications a client is replayed on one topic when it comes back. */
export const MAX_RECOVERY = 10_000;

export const ENGINE_OPTION_KEYS: readonly (keyof EngineOptions)[] = ['historySize', 'historyTtl', 'dedupWindow', 'presenceTtl'];

/** The engine options with their defaults; `extraKeys` are the engine's own. Throws HL_ERR_INVALID_ARGUMENT. */
export function resolveEngineOptions(options: EngineOptions, what: string, extraKeys: readonly string[] = []): ResolvedEngineOptions {
  checkOptions(options, [...ENGINE_OPTION_KEYS, ...extraKeys], what);
  const resolved = { ...ENGINE_DEFAULTS };
  for (const key of ENGINE_OPTION_KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    const minimum = key === 'historySize' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      throw invalidArgument(`${what}: ${key} must be an integer ≥ ${minimum} (got ${shown(value)})`);
    }
    resolved[key] = value;
  }
  return resolved;
}

/** An idempotency key as `publish` accepts it. */
export function checkPublishId(id: unknown): asserts id is string | undefined {
  if (id === undefined) return;
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) throw invalidArgument(`publish id must be a string of 1 to 128 characters (got ${shown(id)})`);
}
