import type { Agent } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import type { RequestOptions } from 'node:https';
import { checkOptions, invalidArgument, shown } from '../errors.js';
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD } from '../protocol/limits.js';
import { DEFLATE_DEFAULTS, type PerMessageDeflateOptions } from '../protocol/permessage-deflate.js';
import { checkHttp2Headers } from './http2-connect.js';

/** `http2` given as an object: the session to open the WebSocket's stream on. */
export interface Http2Options {
  /**
   * An HTTP/2 session of the application's own (`http2.connect(...)`), to the WebSocket's
   * origin: the WebSocket is one stream on it, and the session is never closed by the
   * client. Without it, the client shares one session per origin and closes it after
   * its last WebSocket.
   */
  session?: ClientHttp2Session;
}

/** The Node-only options of the client `WebSocket`: its constructor's third argument. */
export interface WebSocketOptions {
  /** Extra request headers (Origin, Authorization, Cookie, ...). */
  headers?: Record<string, string>;
  /** ms for the whole opening handshake. Default 30 s. */
  handshakeTimeout?: number;
  /** Largest message accepted (bytes). Default 16 MiB. */
  maxPayload?: number;
  maxFragments?: number;
  /** ms to wait for the server to close TCP after the closing handshake. Default 5 s. */
  closeTimeout?: number;
  /**
   * Most bytes buffered (not yet taken by the kernel) before the automatic answers a
   * server asks for — pongs (RFC 6455 §5.5.2) — fail the connection with 1008: a server
   * that pings without reading would otherwise grow the client's memory without bound.
   * Your own sends are never refused (WHATWG: they are sent; `bufferedAmount` shows the
   * backlog), but they count: raise this if you buffer more yourself. Default 8 MiB, as
   * the server's `maxBufferedAmount`.
   */
  maxBufferedAmount?: number;
  /** An http(s).Agent for the request (proxies, connection options). */
  agent?: Agent;
  /** TLS options for wss: (ca, rejectUnauthorized, servername, cert, key). */
  tls?: RequestOptions;
  /**
   * permessage-deflate (RFC 7692): `true` offers it with the defaults, or pass options.
   * Default off for the Node client (browsers always offer it).
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * WebSocket over HTTP/2 (RFC 8441): the handshake is an extended CONNECT on an HTTP/2
   * connection (TLS with ALPN "h2" for wss:, cleartext HTTP/2 with prior knowledge for
   * ws:), shared with the other WebSockets to the same origin. A server that does not
   * send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 fails the handshake
   * (`HL_ERR_HANDSHAKE_UPGRADE`); there is no fallback to HTTP/1.1. Default off.
   */
  http2?: boolean | Http2Options;
}

/** The options with a default, resolved; the others stay as given. */
type Defaulted = 'handshakeTimeout' | 'maxPayload' | 'maxFragments' | 'closeTimeout' | 'maxBufferedAmount' | 'perMessageDeflate';
export type ResolvedClientOptions = Required<Pick<WebSocketOptions, Defaulted>> & Omit<WebSocketOptions, Defaulted>;

export const DEFAULT_CLIENT_OPTIONS: Readonly<Required<Pick<WebSocketOptions, Defaulted>>> = {
  /**
   * 30 s: the handshake is a TCP (and TLS) connect plus one round trip, but a client may
   * go through a proxy or reach a loaded server; past this the user is better told.
   */
  handshakeTimeout: 30_000,
  /** 16 MiB, as the server's (protocol/limits.ts gives the reason). */
  maxPayload: DEFAULT_MAX_PAYLOAD,
  /** 262,144, as the server's (protocol/limits.ts). */
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  /**
   * 5 s for the server to close TCP after the closing handshake (RFC 6455 §7.1.1: the
   * server closes first); a server answers at once, a lost FIN must not hold the socket.
   */
  closeTimeout: 5_000,
  /** 8 MiB, as the server's `maxBufferedAmount` (see `WebSocketOptions`). */
  maxBufferedAmount: 8 * 1024 * 1024,
  /** Off: compression costs memory and CPU on every message; a Node client opts in. */
  perMessageDeflate: false,
};

const KEYS: readonly (keyof WebSocketOptions)[] = [
  'headers',
  'handshakeTimeout',
  'maxPayload',
  'maxFragments',
  'closeTimeout',
  'maxBufferedAmount',
  'agent',
  'tls',
  'perMessageDeflate',
  'http2',
];

/**
 * The options with their defaults, checked: a value of the wrong kind, or a key that is
 * no option, throws `HL_ERR_INVALID_ARGUMENT` from the constructor, before anything is sent.
 */
export function resolveClientOptions(options: WebSocketOptions = {}): ResolvedClientOptions {
  checkOptions(options, KEYS, 'the WebSocket options');
  const resolved: ResolvedClientOptions = { ...options, ...DEFAULT_CLIENT_OPTIONS };
  for (const key of Object.keys(DEFAULT_CLIENT_OPTIONS) as Defaulted[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  for (const key of ['handshakeTimeout', 'maxPayload', 'maxFragments'] as const) {
    const value = resolved[key];
    if (!(typeof value === 'number' && value > 0)) throw invalidArgument(`${key} must be a positive number (got ${shown(value)})`);
  }
  if (!(typeof resolved.closeTimeout === 'number' && resolved.closeTimeout >= 0)) {
    throw invalidArgument('closeTimeout must be a number >= 0');
  }
  const { maxBufferedAmount, perMessageDeflate, headers } = resolved;
  if (!(typeof maxBufferedAmount === 'number' && maxBufferedAmount > 0)) {
    throw invalidArgument('maxBufferedAmount must be a positive number (Infinity for no limit)');
  }
  if (typeof perMessageDeflate !== 'boolean' && (typeof perMessageDeflate !== 'object' || perMessageDeflate === null)) {
    throw invalidArgument('perMessageDeflate must be a boolean or an options object');
  }
  if (typeof perMessageDeflate === 'object') checkOptions(perMessageDeflate, Object.keys(DEFLATE_DEFAULTS), 'perMessageDeflate');
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw invalidArgument('headers must be an object of strings');
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string') throw invalidArgument(`header ${name} must be a string (got ${shown(value)})`);
    }
  }
  for (const key of ['agent', 'tls'] as const) {
    const value = resolved[key];
    if (value !== undefined && (typeof value !== 'object' || value === null)) throw invalidArgument(`${key} must be an object (got ${shown(value)})`);
  }
  checkHttp2(resolved);
  return resolved;
}

function checkHttp2(options: ResolvedClientOptions): void {
  const { http2 } = options;
  if (http2 === undefined || http2 === false) return;
  if (http2 !== true) {
    if (typeof http2 !== 'object' || http2 === null || Array.isArray(http2)) throw invalidArgument(`http2 must be a boolean or { session } (got ${shown(http2)})`);
    checkOptions(http2, ['session'], 'http2');
    const { session } = http2;
    if (session !== undefined && (typeof session !== 'object' || session === null || typeof (session as { request?: unknown }).request !== 'function')) {
      throw invalidArgument(`http2.session must be a ClientHttp2Session from http2.connect (got ${shown(session)})`);
    }
  }
  // An http(s).Agent makes HTTP/1.1 connections: it has no part in an HTTP/2 session.
  if (options.agent !== undefined) throw invalidArgument('agent applies to HTTP/1.1; with http2, pass { session } instead');
  checkHttp2Headers(options.headers);
}
