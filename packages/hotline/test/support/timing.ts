/**
 * Time-bounded waiting for tests over real sockets: every wait has a deadline and says
 * what it was waiting for when it gives up.
 */
import type { EventEmitter } from 'node:events';

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with "timed out after N ms waiting for <what>" unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The first `event` of an EventEmitter or EventTarget, within `ms`. */
export function nextEvent<T = unknown>(
  target: EventEmitter | EventTarget,
  event: string,
  ms = 2000,
): Promise<T> {
  const promise = new Promise<T>((resolve) => {
    if ('addEventListener' in target) {
      target.addEventListener(event, (e) => resolve(e as T), { once: true });
    } else {
      target.once(event, (...args: unknown[]) => resolve((args.length <= 1 ? args[0] : args) as T));
    }
  });
  return withTimeout(promise, ms, `event "${event}"`);
}

/** Polls `check` until it returns true, within `ms`. */
export async function eventually(check: () => boolean, ms: number, what: string, every = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(every);
  }
}

/** A promise with its resolve function outside, for handler callbacks. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Records every setTimeout/setInterval that Hotline's own code (dist/src) creates until
 * `restore()`: the tests that check that deadlines come from one shared timer.
 */
export function spyOnTimers(): { created: string[]; restore(): void } {
  const created: string[] = [];
  const realSetTimeout = globalThis.setTimeout;
  const realSetInterval = globalThis.setInterval;
  const fromSource = () => /\/dist\/src\//.test(new Error().stack ?? '');
  globalThis.setTimeout = ((...args: Parameters<typeof realSetTimeout>) => {
    if (fromSource()) created.push('setTimeout');
    return realSetTimeout(...args);
  }) as typeof realSetTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof realSetInterval>) => {
    if (fromSource()) created.push('setInterval');
    return realSetInterval(...args);
  }) as typeof realSetInterval;
  return {
    created,
    restore() {
      globalThis.setTimeout = realSetTimeout;
      globalThis.setInterval = realSetInterval;
    },
  };
}
