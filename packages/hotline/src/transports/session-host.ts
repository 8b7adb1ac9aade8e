import type { ServerSession, ServerSessionLimits } from '../protocol/session/server-session.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import type { Payload } from '../types.js';
import type { EndReason } from './ended-sessions.js';
import type { LinkHost } from './session-link.js';
import type { RecoveryHost } from '../server/recovery.js';

/** What the registry reads of a session. */
export interface HostedSession extends Subscriber {
  readonly sid: string;
  /** Who it belongs to, for the limits per client (`sessionKey`). */
  readonly key: string;
  readonly core: ServerSession;
}

/** What the session needs from its registry. */
export interface SessionHost extends LinkHost, RecoveryHost {
  /** What the session core lives by, shared by every session. */
  readonly limits: ServerSessionLimits;
  /** Most bytes a WebSocket may buffer: an upgrade moves the queue onto one. */
  readonly maxBufferedAmount: number;
  /** The server's budget of bytes queued for every peer (`maxOutboundBytes`). */
  readonly outbound: ByteBudget;
  /** True when the session was not subscribed to `topic` yet. */
  subscribe(session: HostedSession, topic: string): boolean;
  unsubscribe(session: HostedSession, topic: string): void;
  isSubscribed(session: HostedSession, topic: string): boolean;
  topicsOf(session: HostedSession): string[];
  publish(topic: string, data: Payload, isBinary: boolean | undefined, except: Subscriber): void;
  /** The session made its first request after the handshake. */
  sessionConfirmed(session: HostedSession): void;
  /** The session ended: forget it (and remember why, for late requests). */
  sessionEnded(session: HostedSession, why: EndReason): void;
}

