/**
 * What the example tests share: waiting on a client's events, each wait bounded.
 * Works with Hotline's WHATWG `WebSocket` and with the universal client alike, since
 * both are EventTargets with `open`, `message` and `close`.
 */
import { connect, WebSocket, type ClientOptions, type HotlineClient } from 'hotline';

export const TIMEOUT = 10_000;

/** Resolves with the first `type` event on `target`; rejects after `timeout`. */
export async function once<E extends Event>(target: EventTarget, type: string, timeout = TIMEOUT): Promise<E> {
  return (await first(target, [type], timeout)) as E;
}

/**
 * Resolves with the first of `types` to happen on `target`; rejects after `timeout`.
 * Every listener and the timer go as soon as it settles, so nothing keeps the process up.
 */
export function first(target: EventTarget, types: readonly string[], timeout = TIMEOUT): Promise<Event> {
  return new Promise<Event>((resolve, reject) => {
    const settle = (event: Event | null) => {
      clearTimeout(timer);
      for (const type of types) target.removeEventListener(type, settle);
      if (event === null) reject(new Error(`none of ${types.join(', ')} within ${timeout} ms`));
      else resolve(event);
    };
    const timer = setTimeout(() => settle(null), timeout);
    for (const type of types) target.addEventListener(type, settle);
  });
}

/** Resolves at `open`, rejects if the connection closes first. */
export async function opened(target: EventTarget, timeout = TIMEOUT): Promise<void> {
  const event = (await first(target, ['open', 'close'], timeout)) as Event & { code?: number; reason?: string };
  if (event.type === 'close') throw new Error(`closed before open: ${event.code} ${event.reason}`);
}

/** The close event's code and reason. */
export async function closed(target: EventTarget, timeout = TIMEOUT): Promise<{ code: number; reason: string }> {
  const event = await once<Event & { code: number; reason: string }>(target, 'close', timeout);
  return { code: event.code, reason: event.reason };
}

/**
 * Every text message `target` receives, parsed as JSON, in order; `next(predicate)`
 * waits for the first one not yet taken that matches, skipping (and keeping) the others.
 */
export class Inbox<T = Record<string, unknown>> {
  private readonly queue: T[] = [];
  private wake: (() => void) | null = null;

  constructor(target: EventTarget) {
    target.addEventListener('message', (event) => {
      const data = (event as MessageEvent).data;
      this.queue.push(JSON.parse(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString()) as T);
      this.wake?.();
    });
  }

  async next(predicate: (message: T) => boolean = () => true, timeout = TIMEOUT): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const index = this.queue.findIndex(predicate);
      if (index >= 0) return this.queue.splice(index, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeout} ms; have ${JSON.stringify(this.queue)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** The messages received and not taken yet. */
  get pending(): readonly T[] {
    return this.queue;
  }
}

/** The transports each example test runs over: WebSocket and two HTTP transports. */
export const NODE_TRANSPORTS = ['websocket', 'sse', 'long-polling'] as const;

/** The universal client over one transport, in Node (which has no global WebSocket before 22). */
export function client(url: string, transport: (typeof NODE_TRANSPORTS)[number] | 'polling', options: ClientOptions = {}): HotlineClient {
  return connect(url, { WebSocket, transports: [transport], reconnect: false, interval: 50, ...options });
}

/**
 * The HTTP status a WebSocket handshake is refused with (Hotline's WebSocket reports it on
 * its `error` event as a HandshakeError), or a rejection if it opens.
 */
export async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const socket = new WebSocket(url, [], { headers });
  const event = (await first(socket, ['error', 'open'])) as Event & { error?: { status?: number; code?: string } };
  if (event.type === 'open') {
    socket.close();
    throw new Error(`${url} opened`);
  }
  assertCode(event.error?.code, 'HL_ERR_HANDSHAKE_STATUS');
  return event.error?.status ?? 0;
}

function assertCode(actual: string | undefined, expected: string): void {
  if (actual !== expected) throw new Error(`expected ${expected}, got ${actual}`);
}
