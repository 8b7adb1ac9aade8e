import { invalidArgument } from '../errors.js';
import { Transport, type TransportName } from '../types.js';

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
   * often a socket; ten thousand is well within one process, and the cap is finite.
   */
  maxSessions?: number;
  /**
   * Bytes of messages a session holds for its client (not yet acknowledged). Over it,
   * `peer.send` returns `dropped`, as a WebSocket peer does over `maxBufferedAmount`: the
   * message is refused and the application is told; the session stays open and nothing
   * already queued is lost. A single message larger than the limit is still accepted when
   * the queue is empty. Default 8 MiB, the WebSocket default.
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

export interface ResolvedHttpTransportOptions {
  transports: readonly HttpTransportName[];
  hold: number;
  interval: number;
  heartbeat: number;
  sessionTimeout: number;
  maxSessions: number;
  maxQueue: number;
  maxQueueMessages: number;
  maxBody: number;
  ackDelay: number;
  cors: CorsOptions | false;
  clientPath: string | false;
}

export const DEFAULT_HTTP_TRANSPORT_OPTIONS: Readonly<ResolvedHttpTransportOptions> = {
  transports: HTTP_TRANSPORTS,
  hold: 25_000,
  interval: 1_000,
  heartbeat: 25_000,
  sessionTimeout: 45_000,
  maxSessions: 10_000,
  maxQueue: 8 * 1024 * 1024,
  maxQueueMessages: 10_000,
  maxBody: 16 * 1024 * 1024 + 64 * 1024,
  ackDelay: 1_000,
  cors: false,
  clientPath: '/hotline.js',
};

export function resolveHttpTransportOptions(options: HttpTransportOptions = {}): ResolvedHttpTransportOptions {
  const resolved = { ...DEFAULT_HTTP_TRANSPORT_OPTIONS };
  for (const key of Object.keys(DEFAULT_HTTP_TRANSPORT_OPTIONS) as (keyof ResolvedHttpTransportOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  for (const key of ['hold', 'interval', 'heartbeat', 'sessionTimeout', 'maxSessions', 'maxQueue', 'maxQueueMessages', 'maxBody', 'ackDelay'] as const) {
    const value = resolved[key];
    if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw invalidArgument(`${key} must be a positive number`);
  }
  if (resolved.sessionTimeout <= 2 * resolved.interval) throw invalidArgument('sessionTimeout must exceed twice interval');
  for (const name of resolved.transports) {
    if (!HTTP_TRANSPORTS.includes(name)) throw invalidArgument(`unknown HTTP transport ${JSON.stringify(name)}`);
  }
  if (resolved.clientPath !== false && !resolved.clientPath.startsWith('/')) throw invalidArgument('clientPath starts with "/"');
  return resolved;
}
