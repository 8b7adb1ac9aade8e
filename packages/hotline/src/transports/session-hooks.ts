import type { MessagePacket } from '../protocol/session/wire.js';
import type { Handler, Peer } from '../types.js';

/**
 * The application's hooks, as an HTTP session calls them: a hook that throws — or returns
 * a promise that rejects (an `async` one) — closes that session alone with 1011 and is
 * reported to `error`. The handlers are module-level functions: a synchronous hook costs
 * no closure, and the rejection handler is attached only when there is a promise.
 */

/** What the hooks need of a session: the peer they are called with, and its handler. */
export interface HookedSession<D = any> extends Peer<D> {
  readonly handler: Handler<D>;
  /** The hook threw or rejected: report it and close the session alone with 1011. */
  failInternally(error: unknown): void;
}

/** Runs `hook`; returns false (after closing with 1011) if it threw. */
export function runHook<V>(session: HookedSession, hook: (session: HookedSession, value: V) => unknown, value: V): boolean {
  try {
    const result = hook(session, value);
    if (isThenable(result)) result.then(undefined, (error: unknown) => session.failInternally(error));
    return true;
  } catch (error) {
    session.failInternally(error);
    return false;
  }
}

/** Hands `error` to the `error` hook, which may itself fail: nothing more to tell then. */
export function reportError(session: HookedSession, error: unknown): void {
  try {
    const result = session.handler.error?.(session, error instanceof Error ? error : new Error(String(error))) as unknown;
    if (isThenable(result)) result.then(undefined, ignore);
  } catch {
    // the error hook itself failed
  }
}

/** The `close` hook (after `error`, when there is one to report). */
export function runCloseHook(session: HookedSession, code: number, reason: string, error: Error | null): void {
  if (error !== null) reportError(session, error);
  try {
    const result = session.handler.close?.(session, code, reason) as unknown;
    if (isThenable(result)) result.then(undefined, (failure: unknown) => reportError(session, failure));
  } catch (failure) {
    reportError(session, failure);
  }
}

export function callOpen(session: HookedSession): unknown {
  return session.handler.open?.(session);
}

export function callMessage(session: HookedSession, packet: MessagePacket): unknown {
  return session.handler.message?.(session, packet.data as Buffer, packet.kind === 'b');
}

export function callTextMessage(session: HookedSession, data: Buffer): unknown {
  return session.handler.message?.(session, data, false);
}

export function callBinaryMessage(session: HookedSession, data: Buffer): unknown {
  return session.handler.message?.(session, data, true);
}

export function callDrain(session: HookedSession): unknown {
  return session.handler.drain?.(session);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function ignore(): void {}
