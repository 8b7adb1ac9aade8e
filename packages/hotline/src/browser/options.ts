/**
 * The client's options: their defaults, each with its reason, and the one place where
 * they are resolved and checked. A bad option throws at `connect()`, naming the option,
 * rather than misbehaving later on the network.
 */
import { checkOptions, invalidArgument, shown } from '../errors.js';
import type { Credentials, WebSocketConstructor } from './io.js';

export type TransportName = 'websocket' | 'sse' | 'long-polling' | 'polling' | 'interval-polling';
export const ALL_TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'];

export interface ReconnectOptions {
  /** Attempts before giving up (after a break or a lost session). Default Infinity. */
  retries?: number;
  /** First delay (ms). Default 500. */
  minDelay?: number;
  /** Largest delay (ms). Default 10 s. */
  maxDelay?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Random spread, as a fraction of the delay (0.5: ±50 %), so clients do not return in step. Default 0.5. */
  jitter?: number;
}

export interface ClientOptions {
  /**
   * Transports to try, in order. Default: websocket, sse, long-polling, polling (a
   * fixed-interval client is only made on request).
   */
  transports?: readonly TransportName[];
  /** ms between polls for `polling` and `interval-polling`. Default: what the server says. */
  interval?: number;
  /** ms for a transport to open before the next one is tried. Default 10 s. */
  openTimeout?: number;
  /** ms for a plain (non-held) request to answer. Default 20 s. */
  requestTimeout?: number;
  /** Reconnection; `false` turns it off. */
  reconnect?: ReconnectOptions | false;
  /** The WebSocket class (required in Node 20, which has no global WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** Third argument for the WebSocket constructor (Hotline's Node options: headers, agent, tls). */
  webSocketOptions?: unknown;
  /** The fetch function. Default: the global one. */
  fetch?: typeof fetch;
  /** Extra request headers for the HTTP transports (cross-origin ones need a CORS preflight). */
  headers?: Record<string, string>;
  /** fetch `credentials` for the HTTP transports. Default 'same-origin'. */
  credentials?: Credentials;
  /** Most polls in flight at once for interval-polling; a tick is skipped beyond. Default 4. */
  maxOverlap?: number;
  /**
   * After opening over an HTTP transport, try to move the session onto a WebSocket
   * (without losing, reordering or repeating a message). Default false.
   */
  upgrade?: boolean;
  /**
   * Ask the server for the envelope (`envelope=1`): publications come with their topic
   * and position (`event.topic`, `event.position`), repeats are dropped, and after a
   * reconnection the server replays what was missed (`recovery` events). Default true:
   * every Hotline server speaks it; false gives the bare messages of a plain client.
   */
  recovery?: boolean;
}

/** The reconnection policy, every field set. */
export type ReconnectPolicy = Required<ReconnectOptions>;

/** The defaults of the client's options. */
export const CLIENT_DEFAULTS = {
  /**
   * WebSocket first (one connection, no headers per message), then the HTTP transports
   * from the cheapest push to the most widely passable. Interval polling is never a
   * default: it polls whether or not anything is waiting.
   */
  transports: ['websocket', 'sse', 'long-polling', 'polling'] as readonly TransportName[],
  /**
   * A proxy that accepts a connection and never answers the Upgrade (or holds a stream
   * back) is as blocked as one that refuses it: after 10 s the next transport is tried.
   */
  openTimeout: 10_000,
  /** A plain request (a POST, a short poll) answers in well under 20 s on any network that works. */
  requestTimeout: 20_000,
  /**
   * Interval polling overlaps polls when answers are slow, each answer holding all that is
   * unacknowledged; four in flight bound what one slow network costs the server.
   */
  maxOverlap: 4,
  /** The fetch default: cookies go to the page's own origin only. */
  credentials: 'same-origin' as Credentials,
  /** Moving onto a WebSocket is on request: it opens a second connection. */
  upgrade: false,
  /** Recovery costs a few bytes per message and gives exactly-once publications across reconnections. */
  recovery: true,
  reconnect: {
    /** A client keeps coming back: the application decides when it stops (`close()`). */
    retries: Infinity,
    /** Half a second: a server restart or a network blip is over by then more often than not. */
    minDelay: 500,
    /** 10 s: long enough not to hammer a server that is down, short enough to come back soon. */
    maxDelay: 10_000,
    /** Doubling reaches `maxDelay` in five attempts. */
    factor: 2,
    /** ±50 %: clients cut off together do not all return in the same instant. */
    jitter: 0.5,
  } as ReconnectPolicy,
} as const;

/** The options with every default applied, as the client and its transports read them. */
export interface ResolvedClientOptions {
  readonly transports: readonly TransportName[];
  /** undefined: the server's. */
  readonly interval: number | undefined;
  readonly openTimeout: number;
  readonly requestTimeout: number;
  /** null: no reconnection. */
  readonly reconnect: ReconnectPolicy | null;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly webSocketOptions: unknown;
  readonly fetch: typeof fetch | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly credentials: Credentials;
  readonly maxOverlap: number;
  readonly upgrade: boolean;
  readonly recovery: boolean;
}

const CREDENTIALS: readonly string[] = ['omit', 'same-origin', 'include'];

const KEYS: readonly (keyof ClientOptions)[] = [
  'transports',
  'interval',
  'openTimeout',
  'requestTimeout',
  'reconnect',
  'WebSocket',
  'webSocketOptions',
  'fetch',
  'headers',
  'credentials',
  'maxOverlap',
  'upgrade',
  'recovery',
];
const RECONNECT_KEYS: readonly (keyof ReconnectOptions)[] = ['retries', 'minDelay', 'maxDelay', 'factor', 'jitter'];

function invalid(name: string, rule: string, value: unknown): never {
  throw invalidArgument(`hotline client: option ${name} must be ${rule} (got ${shown(value)})`);
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) invalid(name, 'a positive number of ms', value);
  return value;
}

function atLeast(name: string, value: unknown, fallback: number, min: number, rule: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) invalid(name, rule, value);
  return value;
}

function optionalFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') invalid(name, 'a function', value);
  return value;
}

/**
 * Applies the defaults and checks every value: a value of the wrong kind, or a key that
 * is no option, throws `HotlineError` `HL_ERR_INVALID_ARGUMENT` naming the option.
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  checkOptions(options, KEYS, 'the client options');
  const transports = options.transports ?? CLIENT_DEFAULTS.transports;
  if (!Array.isArray(transports) || transports.length === 0 || transports.some((t) => !ALL_TRANSPORTS.includes(t))) {
    invalid('transports', `a non-empty list of transport names (${ALL_TRANSPORTS.join(', ')})`, transports);
  }
  const interval = options.interval;
  if (interval !== undefined && (typeof interval !== 'number' || !(interval >= 0) || !Number.isFinite(interval))) {
    invalid('interval', 'a number of ms, 0 or more', interval);
  }
  const maxOverlap = atLeast('maxOverlap', options.maxOverlap, CLIENT_DEFAULTS.maxOverlap, 1, 'an integer, 1 or more');
  if (!Number.isInteger(maxOverlap)) invalid('maxOverlap', 'an integer, 1 or more', maxOverlap);
  const credentials = options.credentials ?? CLIENT_DEFAULTS.credentials;
  if (!CREDENTIALS.includes(credentials)) invalid('credentials', CREDENTIALS.join(' | '), credentials);
  const headers = options.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) invalid('headers', 'an object of strings', headers);
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') invalid(`header ${name}`, 'a string', value);
  }
  if (options.upgrade !== undefined && typeof options.upgrade !== 'boolean') invalid('upgrade', 'a boolean', options.upgrade);
  if (options.recovery !== undefined && typeof options.recovery !== 'boolean') invalid('recovery', 'a boolean', options.recovery);
  return {
    transports,
    interval,
    openTimeout: positive('openTimeout', options.openTimeout, CLIENT_DEFAULTS.openTimeout),
    requestTimeout: positive('requestTimeout', options.requestTimeout, CLIENT_DEFAULTS.requestTimeout),
    reconnect: options.reconnect === false ? null : resolveReconnect(options.reconnect ?? {}),
    WebSocket: optionalFunction('WebSocket', options.WebSocket),
    webSocketOptions: options.webSocketOptions,
    fetch: optionalFunction('fetch', options.fetch),
    headers,
    credentials,
    maxOverlap,
    upgrade: options.upgrade ?? CLIENT_DEFAULTS.upgrade,
    recovery: options.recovery ?? CLIENT_DEFAULTS.recovery,
  };
}

function resolveReconnect(options: ReconnectOptions): ReconnectPolicy {
  if (typeof options !== 'object' || options === null) invalid('reconnect', 'an options object or false', options);
  checkOptions(options, RECONNECT_KEYS, 'the client option reconnect');
  const d = CLIENT_DEFAULTS.reconnect;
  const retries = atLeast('reconnect.retries', options.retries, d.retries, 0, 'a whole number, 0 or more, or Infinity');
  if (retries !== Infinity && !Number.isInteger(retries)) invalid('reconnect.retries', 'a whole number, 0 or more, or Infinity', retries);
  const minDelay = atLeast('reconnect.minDelay', options.minDelay, d.minDelay, 0, 'a number of ms, 0 or more');
  const maxDelay = atLeast('reconnect.maxDelay', options.maxDelay, Math.max(d.maxDelay, minDelay), minDelay, `a number of ms, at least minDelay (${minDelay})`);
  const factor = atLeast('reconnect.factor', options.factor, d.factor, 1, 'a number, 1 or more');
  const jitter = atLeast('reconnect.jitter', options.jitter, d.jitter, 0, 'a fraction between 0 and 1');
  if (jitter > 1) invalid('reconnect.jitter', 'a fraction between 0 and 1', jitter);
  if (!Number.isFinite(minDelay) || !Number.isFinite(maxDelay) || !Number.isFinite(factor)) {
    invalid('reconnect', 'finite delays and factor', `${minDelay}/${maxDelay}/${factor}`);
  }
  return { retries, minDelay, maxDelay, factor, jitter };
}

/** Exponential backoff with jitter: the delay before attempt `attempt` (1, 2, ...). `random` in [0, 1). */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: number): number {
  const base = Math.min(policy.maxDelay, policy.minDelay * Math.pow(policy.factor, Math.max(0, attempt - 1)));
  return Math.max(0, Math.round(base * (1 + policy.jitter * (2 * random - 1))));
}

/**
 * The delay before the first retry after a 1012 (Service Restart): uniform in
 * [0, minDelay]. The draining server already spread its closes over its window, and the
 * load balancer sends the retry to a node that is up, so there is nothing to back off
 * from; the full jitter keeps clients closed in the same instant (a window of 0) from
 * arriving in step.
 */
export function restartDelay(policy: ReconnectPolicy, random: number): number {
  return Math.round(policy.minDelay * random);
}
