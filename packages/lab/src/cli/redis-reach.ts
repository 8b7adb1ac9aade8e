/** Redis cannot be used (unreachable, not ready, its client not installed): one line for the terminal, exit code 1. */
export class RedisUnusable extends Error {}

/**
 * An engine's failed `connect()` (`HL_ERR_ENGINE_UNAVAILABLE`: refused at the first
 * attempt, or no answer within its `commandTimeout`) as the line the terminal shows.
 */
export function unusable(url: string, error: unknown): RedisUnusable {
  const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
  return new RedisUnusable(`cannot reach Redis at ${url} (${cause?.code ?? cause?.message ?? (error as Error).message})`);
}

/**
 * Runs `load` (an import of a module that imports `hotline/redis`), which needs the `redis` package:
 * the library's optional peer dependency, so it may not be installed.
 */
export async function withRedisPackage<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /'redis'/.test(String((error as Error).message))) {
      throw new RedisUnusable('--redis needs the redis package, an optional peer dependency of hotline: npm install redis');
    }
    throw error;
  }
}
