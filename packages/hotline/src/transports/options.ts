import type { IncomingMessage } from 'node:http';
import { checkOptions, invalidArgument, shown } from '../errors.js';
import { Transport, type TransportName } from '../types.js';
import { addressKey } from './session-key.js';

/** The HTTP transports, i.e. every transport but WebSocket. */
export type HttpTransportName = Exclude<TransportName, 'websocket'>;
export const HTTP_TRANSPORTS: readonly HttpTransportName[] = [
  Transport.SSE,
  Transport.LONG_POLLING,
  Transport.POLLING,
  Transport.INTERVAL_POLLING,
];

export interface CorsOptions {
  /** Origins allowed to call the transports from another origin: a list, `*`, or a test. */
  origins: '*' | readonly string[] | ((origin: string) => boolean);
  /** Send `Access-Control-Allow-Credentials: true` (cookies cross-origin). Default false. */
  credentials?: boolean;
  /** Seconds a browser may cache a preflight answer. Default 600. */
  maxAge?: number;
}

/**
 * Options of the HTTP transports. Every limit has a safe default; the reason for each
 * value sits next to it.
 */
export interface HttpTransportOptions {
  /** Which HTTP transports are served. Default: all four. */
  transports?: readonly HttpTransportName[];
  /**
   * ms a long-poll is held open when there is nothing to send. Default 25 s: under the
   * 30-60 s idle cuts of common proxies and load balancers (nginx 60 s, AWS ALB 60 s),
   * long enough that an idle client costs about two requests a minute (engine.io's choice too).
   */
  hold?: number;
  /**
   * ms between polls for `polling` (after each answer) and `interval-polling` (fixed
   * clock), told to clients in the handshake. Default 1 s: the notes' trade-off — halve it
   * and the wasted requests double, double it and so does the push latency.
   */
  interval?: number;
  /**
   * ms between heartbeats on an idle SSE stream (a comment line, 3 bytes). Default 25 s,
   * for the same proxy idle cuts as `hold`. The client calls a stream dead after twice this.
   */
  heartbeat?: number;
  /**
   * ms without any request (and no stream or held poll open) after which a session is
   * closed with 1006 "session expired". Default 45 s: a 25 s hold plus time for a client
   * to notice a lost response and come back with backoff. Must exceed twice `interval`.
   */
  sessionTimeout?: number;
  /**
   * Most live sessions per route set; beyond it a handshake is answered 503
   * HL_ERR_TOO_MANY_SESSIONS with Retry-After. Default 10,000: a session holds a queue and
   * often a socket; ten thousand is well within one process, and the cap is finite. The
   * last line of defence: the limits per client below keep one client from reaching it.
   */
  maxSessions?: number;
  /**
   * ms a new session has for its first request after the handshake answer (a poll, a
   * POST, an SSE reconnection), or for its SSE stream to still be open; otherwise it is
   * closed with 1006 "session expired". Default 10 s: a client polls again the moment it
   * reads the handshake answer, so this is one round trip on a bad mobile link with
   * plenty to spare, and the browser client's own `openTimeout`. A session nobody came
   * back for costs little and leaves fast (not after `sessionTimeout`). At least twice
   * `interval` unless set: a client may wait an interval before its first poll.
   */
  confirmTimeout?: number;
  /**
   * Which client a handshake comes from, for the limits per client below. Default: the
   * remote address — its /64 prefix for IPv6, which one subscriber usually owns whole.
   * Behind a reverse proxy every request comes from the proxy's address: return the
   * client's address from the header the proxy sets (`X-Forwarded-For`, taking the entry
   * your proxy appended), or an authenticated user id. A key function that throws
   * answers 500.
   */
  sessionKey?: (request: IncomingMessage) => string;
  /**
   * Most sessions of one key that have not made their first request yet (see
   * `confirmTimeout`); beyond it a handshake is answered 429 HL_ERR_TOO_MANY_UNCONFIRMED
   * with Retry-After. Default 32: a session leaves this state one round trip after its
   * handshake, so even many users behind one NAT address rarely have more than a few in
   * it at once, while a client that opens sessions and never comes back is held to 32
   * per `confirmTimeout` — not a lockout of everyone else. `Infinity` turns it off.
   */
  maxUnconfirmedPerKey?: number;
  /**
   * Most live sessions of one key; beyond it a handshake is answered 429
   * HL_ERR_TOO_MANY_SESSIONS_FOR_KEY with Retry-After. Default 1,000: loose on purpose —
   * a carrier-grade or corporate NAT puts hundreds of users behind one address — yet a
   * tenth of `maxSessions`, so that ten addresses at least are needed to fill the server.
   * `Infinity` turns it off.
   */
  maxSessionsPerKey?: number;
  /**
   * Bytes of messages a session holds for its client (not yet acknowledged). Over it,
   * `peer.send` returns `dropped`, as a WebSocket peer does over `maxBufferedAmount`: the
   * message is refused and the application is told; the session stays open and nothing
   * already queued is lost. A single message larger than the limit is still accepted when
   * the queue is empty. The bytes the session's responses hold for the client (written,
   * not yet taken by the kernel) count too. Default 8 MiB, the WebSocket default. What a
   * session holds also counts in the server's `maxOutboundBytes`, which bounds the sum
   * over all sessions.
   */
  maxQueue?: number;
  /** Most messages a session holds (same policy as `maxQueue`). Default 10,000. */
  maxQueueMessages?: number;
  /**
   * Largest upstream POST body (bytes, batch framing included); larger is answered 413
   * HL_ERR_BODY_TOO_LARGE without reading it. Default 16 MiB + 64 KiB: one message of the
   * server's default maxPayload (16 MiB) plus framing.
   */
  maxBody?: number;
  /**
   * Most packets in one upstream body; more is answered 413 HL_ERR_TOO_MANY_PACKETS, and
   * decoding stops at the first one over. Default 10,000, the same as
   * `maxQueueMessages` the other way: an empty packet is 3 bytes on the wire but a
   * decoded packet costs about a hundred in memory, so a 16 MiB body of empty packets
   * would otherwise become five million objects. The client splits its bodies to fit.
   */
  maxPackets?: number;
  /**
   * ms an upstream body may take to arrive before it must keep up `minBodyRate`.
   * Default 10 s, as the server's `handshakeTimeout`: a batch of messages is one request.
   */
  bodyTimeout?: number;
  /**
   * Bytes per second an upstream body must average once `bodyTimeout` has passed; a
   * body behind it is answered 408 HL_ERR_BODY_TIMEOUT and its connection closed.
   * Default 16 KiB/s, the upload of a poor 3G link: a slower body is stalling, not
   * slow, and holds its connection and buffers for as long as it trickles (Node's own
   * `requestTimeout` would wait 300 s).
   */
  minBodyRate?: number;
  /**
   * ms a response (poll answer, long-poll answer, SSE stream) may hold bytes its client
   * does not read, without any of them draining, before it is destroyed. Default 30 s:
   * longer than any pause of a live reader (a mobile radio waking up, a tab in the
   * background), shorter than `sessionTimeout`, and its bytes count in the server's
   * `maxOutboundBytes` until then.
   */
  drainTimeout?: number;
  /**
   * ms an SSE client may wait before acknowledging received messages with an empty POST
   * (so the server can free them). Default 1 s: one small request a second while messages
   * flow, none while idle.
   */
  ackDelay?: number;
  /** Cross-origin access. Default none: same-origin only, no CORS headers are sent. */
  cors?: CorsOptions | false;
  /**
   * Path at which the browser client bundle is served (`false`: not served). Default
   * `/hotline.js`.
   */
  clientPath?: string | false;
}

/** CORS options with their defaults filled in. */
export interface ResolvedCorsOptions {
  origins: CorsOptions['origins'];
  credentials: boolean;
  maxAge: number;
}

/**
 * Seconds a browser may cache a preflight answer: 10 minutes — a client that sends
 * all the time pays for one preflight per ten minutes, and a change of policy reaches
 * every browser within that.
 */
const DEFAULT_CORS_MAX_AGE = 600;

export interface ResolvedHttpTransportOptions {
  transports: readonly HttpTransportName[];
  hold: number;
  interval: number;
  heartbeat: number;
  sessionTimeout: number;
  maxSessions: number;
  confirmTimeout: number;
  sessionKey: (request: IncomingMessage) => string;
  maxUnconfirmedPerKey: number;
  maxSessionsPerKey: number;
  maxQueue: number;
  maxQueueMessages: number;
  maxBody: number;
  maxPackets: number;
  bodyTimeout: number;
  minBodyRate: number;
  drainTimeout: number;
  ackDelay: number;
  cors: ResolvedCorsOptions | false;
  clientPath: string | false;
}

export const DEFAULT_HTTP_TRANSPORT_OPTIONS: Readonly<ResolvedHttpTransportOptions> = {
  transports: HTTP_TRANSPORTS,
  hold: 25_000,
  interval: 1_000,
  heartbeat: 25_000,
  sessionTimeout: 45_000,
  maxSessions: 10_000,
  confirmTimeout: 10_000,
  sessionKey: defaultSessionKey,
  maxUnconfirmedPerKey: 32,
  maxSessionsPerKey: 1_000,
  maxQueue: 8 * 1024 * 1024,
  maxQueueMessages: 10_000,
  maxBody: 16 * 1024 * 1024 + 64 * 1024,
  maxPackets: 10_000,
  bodyTimeout: 10_000,
  minBodyRate: 16 * 1024,
  drainTimeout: 30_000,
  ackDelay: 1_000,
  cors: false,
  clientPath: '/hotline.js',
};

const FINITE_LIMITS = [
  'hold',
  'interval',
  'heartbeat',
  'sessionTimeout',
  'maxSessions',
  'confirmTimeout',
  'maxQueue',
  'maxQueueMessages',
  'maxBody',
  'maxPackets',
  'bodyTimeout',
  'minBodyRate',
  'drainTimeout',
  'ackDelay',
] as const;

/** The remote address (its /64 for IPv6): see `sessionKey`. */
export function defaultSessionKey(request: IncomingMessage): string {
  return addressKey(request.socket.remoteAddress ?? '');
}

const KEYS = Object.keys(DEFAULT_HTTP_TRANSPORT_OPTIONS);
const CORS_KEYS: readonly (keyof CorsOptions)[] = ['origins', 'credentials', 'maxAge'];

/**
 * Applies the defaults and checks every value, once, when the transports are enabled: a
 * value of the wrong kind or a key that is no option throws `HL_ERR_INVALID_ARGUMENT`
 * naming it.
 */
export function resolveHttpTransportOptions(options: HttpTransportOptions = {}): ResolvedHttpTransportOptions {
  checkOptions(options, KEYS, 'the HTTP transport options');
  const resolved = { ...DEFAULT_HTTP_TRANSPORT_OPTIONS };
  for (const key of Object.keys(DEFAULT_HTTP_TRANSPORT_OPTIONS) as (keyof ResolvedHttpTransportOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  if (options.confirmTimeout === undefined) resolved.confirmTimeout = Math.max(resolved.confirmTimeout, 2 * resolved.interval);
  for (const key of FINITE_LIMITS) {
    const value = resolved[key];
    if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw invalidArgument(`${key} must be a positive finite number (got ${shown(value)})`);
  }
  for (const key of ['maxUnconfirmedPerKey', 'maxSessionsPerKey'] as const) {
    const value = resolved[key];
    if (!(typeof value === 'number' && value > 0)) throw invalidArgument(`${key} must be a positive number or Infinity (got ${shown(value)})`);
  }
  if (typeof resolved.sessionKey !== 'function') throw invalidArgument('sessionKey must be a function');
  if (resolved.sessionTimeout <= 2 * resolved.interval) throw invalidArgument('sessionTimeout must exceed twice interval');
  // An empty list is allowed: no HTTP transport, the client bundle alone (clientPath).
  if (!Array.isArray(resolved.transports)) {
    throw invalidArgument(`transports must be a list of HTTP transports (${HTTP_TRANSPORTS.join(', ')}) (got ${shown(resolved.transports)})`);
  }
  for (const name of resolved.transports) {
    if (!HTTP_TRANSPORTS.includes(name)) throw invalidArgument(`unknown HTTP transport ${JSON.stringify(name)}`);
  }
  const { clientPath } = resolved;
  if (clientPath !== false && !(typeof clientPath === 'string' && clientPath.startsWith('/'))) {
    throw invalidArgument(`clientPath must be a path starting with "/", or false (got ${shown(clientPath)})`);
  }
  const cors = options.cors;
  if (cors !== undefined && cors !== false) resolved.cors = resolveCors(cors);
  return resolved;
}

function resolveCors(cors: CorsOptions): ResolvedCorsOptions {
  checkOptions(cors, CORS_KEYS, 'cors (or false)');
  const { origins } = cors;
  const list = Array.isArray(origins) && origins.every((origin) => typeof origin === 'string');
  if (origins !== '*' && !list && typeof origins !== 'function') {
    throw invalidArgument(`cors.origins must be '*', a list of origins or a function (got ${shown(origins)})`);
  }
  if (cors.credentials !== undefined && typeof cors.credentials !== 'boolean') {
    throw invalidArgument(`cors.credentials must be a boolean (got ${shown(cors.credentials)})`);
  }
  const maxAge = cors.maxAge === undefined ? DEFAULT_CORS_MAX_AGE : cors.maxAge;
  if (!(typeof maxAge === 'number' && maxAge >= 0 && Number.isFinite(maxAge))) throw invalidArgument('cors.maxAge must be a number >= 0');
  return { origins: cors.origins, credentials: cors.credentials === true, maxAge };
}

/**
 * The SSE `retry` field: how soon a native EventSource comes back after its stream broke.
 * At most 3 s, and a quarter of `sessionTimeout`, so that a client reconnecting this way
 * is back well before its session expires.
 */
export function sseRetry(options: ResolvedHttpTransportOptions): number {
  return Math.min(3000, Math.floor(options.sessionTimeout / 4));
}
