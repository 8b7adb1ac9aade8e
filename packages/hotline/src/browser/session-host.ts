/**
 * What the downstream halves of an HTTP session (`polling.ts`, `sse.ts`) and the session
 * upgrade (`session-upgrade.ts`) need from the driver that holds the session: its core,
 * its requests and its timers. `SessionDriver` is the one implementation; this interface
 * lets those files depend on it without importing it.
 */
import type { ClientSession, SessionTransport } from '../protocol/session/client-session.js';
import type { Packet } from '../protocol/session/wire.js';
import type { Driver, DriverOwner } from './driver.js';
import type { TimerHandle } from './io.js';

export interface SessionHost extends Driver {
  readonly owner: DriverOwner;
  readonly session: ClientSession;
  readonly httpName: SessionTransport;
  readonly stopped: boolean;
  /** Polls and POSTs are held while an upgrade settles the last sequence numbers. */
  readonly paused: boolean;
  /** A WebSocket carries the session: HTTP is over. */
  readonly carried: boolean;
  /** A backoff is under way after a failure. */
  readonly backingOff: boolean;
  /** The fixed-interval clock's next tick. */
  clock: TimerHandle | null;
  /** The query of a request on the open session: transport, sid, ack. */
  params(): Record<string, string | number>;
  /** One request, body read whole; non-2xx answers become `TransportFailure`s. */
  request(method: 'GET' | 'POST', params: Record<string, string | number>, body: Uint8Array | undefined, timeout: number): Promise<Uint8Array>;
  /** Registers a request's controller, so that a close or an upgrade can cut it short (`get`: a poll or a stream). */
  track(controller: AbortController, get: boolean): void;
  untrack(controller: AbortController): void;
  /** The session's handshake arrived: the connection is open. */
  opening(): void;
  /** Hands packets from the core to the owner, from index `from`; a close packet ends the session. */
  deliver(packets: readonly Packet[], from: number): void;
  succeeded(): void;
  /** A request failed: ends the session, or waits out a backoff before the retry. */
  failed(error: Error): Promise<void>;
  /** Posts what is queued upstream (with `ackOnly`, an ack alone if one is owed). */
  flushUp(ackOnly: boolean): Promise<void>;
  /** Stops polling and POSTing; resolves once no POST is in flight. */
  pause(): Promise<void>;
  unpause(): void;
  whilePaused(): Promise<void>;
  abortGets(): void;
  abortAll(): void;
  clearAckTimer(): void;
  /** The session ended (`wasClean`: a close was exchanged). */
  closed(code: number, reason: string, wasClean: boolean, error?: Error): void;
  timer(callback: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  sleep(ms: number): Promise<void>;
}
