import net from 'node:net';
import tls from 'node:tls';

/** How long Redis has to accept a connection, and then to be ready, at start. */
export const REDIS_CONNECT_TIMEOUT_MS = 5000;

/** Redis cannot be used (unreachable, not ready, its client not installed): one line for the terminal, exit code 1. */
export class RedisUnusable extends Error {}

/**
 * Whether Redis at `url` accepts a TCP (or TLS) connection, said at once: the Redis client
 * itself retries a refused connection forever, so a wrong port would otherwise just hang.
 */
export function probeRedis(url: string): Promise<void> {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'rediss:';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  return new Promise((resolve, reject) => {
    const socket = secure ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined }) : net.connect({ host, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new RedisUnusable(`cannot reach Redis at ${url} (${why})`));
    };
    socket.setTimeout(REDIS_CONNECT_TIMEOUT_MS, () => fail(`no answer within ${REDIS_CONNECT_TIMEOUT_MS / 1000} s`));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.destroy();
      resolve();
    });
  });
}

/**
 * `connecting` (an engine's `connect()`), within the timeout; past it `giveUp` (the
 * engine's `close()`, which ends the pending connect) and a `RedisUnusable`.
 */
export async function withinConnectTimeout(url: string, connecting: Promise<void>, giveUp: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), REDIS_CONNECT_TIMEOUT_MS)));
  try {
    const outcome = await Promise.race([connecting, late]);
    if (outcome === 'late') {
      connecting.catch(() => undefined);
      await giveUp().catch(() => undefined);
      throw new RedisUnusable(`Redis at ${url} accepted a connection but was not ready within ${REDIS_CONNECT_TIMEOUT_MS / 1000} s`);
    }
  } catch (error) {
    if (error instanceof RedisUnusable) throw error;
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    await giveUp().catch(() => undefined);
    throw new RedisUnusable(`cannot use Redis at ${url} (${cause})`);
  } finally {
    clearTimeout(timer);
  }
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
