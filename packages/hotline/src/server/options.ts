import { CloseCode, checkOptions, invalidArgument, shown } from '../errors.js';
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD } from '../protocol/limits.js';
import { DEFLATE_DEFAULTS, type PerMessageDeflateOptions } from '../protocol/permessage-deflate.js';
import { encodeClosePayload } from '../protocol/protocol.js';
import type { PubSubEngine } from '../pubsub/engine.js';

/**
 * Server options. Every limit has a safe default; `DEFAULT_SERVER_OPTIONS` gives each
 * value with the reason for it, and `resolveServerOptions` applies and checks them all.
 */
export interface ServerOptions {
  /** Largest message accepted, after reassembly and inflation. Default 16 MiB. */
  maxPayload?: number;
  /** Most fragments in one message. Default 262,144. */
  maxFragments?: number;
  /**
   * ms from the upgrade request to the 101 (the `upgrade` hook included), and — when the
   * server listens on its own — to a complete request head. Default 10 s.
   */
  handshakeTimeout?: number;
  /** ms to wait for the peer's Close before dropping TCP. Default 5 s. */
  closeTimeout?: number;
  /** ms of silence after which a peer is dropped; a Ping goes out at half of it. Default 120 s; 0 disables both. */
  idleTimeout?: number;
  /** Send heartbeat Pings (at idleTimeout / 2). Default true. */
  sendPings?: boolean;
  /**
   * Above this many bytes waiting for the kernel, `peer.send` returns `dropped` instead
   * of queueing: a slow consumer cannot grow memory without bound. Default 8 MiB.
   */
  maxBufferedAmount?: number;
  /**
   * Most bytes held, across every WebSocket connection of the server, in frames and
   * messages not yet complete: reads buffered until a frame is whole, large frames being
   * assembled, fragments being reassembled, output of messages being inflated. Each
   * message is bounded by `maxPayload`; this bounds their sum, which would otherwise be
   * `maxPayload` times the number of connections. Past it, the connections holding the
   * most are failed with 1013 (Try Again Later) to make room, or the one asking if it holds
   * the most itself. Default 128 MiB; `Infinity` turns it off.
   */
  maxPartialBytes?: number;
  /**
   * Most bytes of inflated output per second (permessage-deflate), across every
   * connection of the server. Past this rate, inflation waits, the socket of each
   * connection waiting is paused, and connections take turns, so one connection's bombs
   * never run ahead of another's small messages. Default 64 MiB/s; `Infinity` turns it off.
   */
  maxInflateRate?: number;
  /**
   * Most open WebSocket connections (and handshakes in progress); beyond it, upgrades are
   * answered 503. Default 100,000.
   */
  maxConnections?: number;
  /**
   * Most bytes queued for peers that have not read them yet, across every peer of the
   * server and every transport (WebSocket buffers beyond the kernel, session queues,
   * bytes buffered in HTTP responses). Each peer is bounded by its own limit; this bounds
   * their sum. When a send would pass it, the peers holding the most are closed with 1013
   * (Try Again Later) to make room; if the sender is itself the largest, its send is
   * refused (`dropped`). Default 256 MiB.
   */
  maxOutboundBytes?: number;
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or options (checked by
   * `resolveDeflateOptions`, the codec's own). A `concurrency` given here is this server's
   * own zlib limit; without one, the server shares the process-wide limit. Default off.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * What orders and moves publications: `new MemoryEngine()` (the default, this process
   * alone) or a broker engine shared by every node (`new RedisEngine(...)` from
   * `hotline/redis`). One engine serves one server.
   */
  engine?: PubSubEngine<any>;
  /**
   * The base URL at which the other nodes reach this one (`http://10.0.0.5:8080`), told
   * to the engine's node directory when the server is attached or listens: a request of
   * an HTTP session that lands on another node is forwarded here (no sticky sessions
   * needed). Without it, nothing is advertised, and the requests of this node's sessions
   * that reach other nodes are answered as unknown sessions (the client starts anew).
   * An origin only: `http:` or `https:`, a host, an optional port, no path.
   */
  advertise?: string;
  /**
   * WebSocket over HTTP/2 streams (RFC 8441): on an HTTP/2 server (`listen({ tls })`, or
   * an `http2` server attached) the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and
   * accepts the extended CONNECT of browsers and clients that use it, so that a page's
   * WebSockets share its one connection. Default true; false keeps WebSocket on HTTP/1.1
   * (browsers then open a connection of their own for it, negotiated by ALPN).
   */
  webSocketOverHttp2?: boolean;
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'engine' | 'advertise'>> & {
  /** The advertised origin, or null when the node advertises none. */
  readonly advertise: string | null;
};

const KiB = 1024;
const MiB = 1024 * KiB;

/** Every server option's default, with the reason for it. */
export const DEFAULT_SERVER_OPTIONS: Readonly<ResolvedServerOptions> = Object.freeze({
  /**
   * 16 MiB: well above chat, JSON and file-chunk traffic (`ws` allows 100 MiB, which lets
   * each connection pin that much); see protocol/limits.ts.
   */
  maxPayload: DEFAULT_MAX_PAYLOAD,
  /**
   * 262,144: a 4 MiB message in 16-byte fragments still passes, while a peer streaming
   * empty fragments forever to keep a message open is stopped (1009).
   */
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  /** 10 s: a handshake is one round trip; a peer that takes longer is slow-loris, not slow. */
  handshakeTimeout: 10_000,
  /** 5 s: browsers answer a Close at once; a peer that does not is gone. */
  closeTimeout: 5_000,
  /**
   * 120 s: under the idle cuts common in proxies (often 60-300 s) once Pings flow every
   * 60 s, and long enough that an idle server sends few of them.
   */
  idleTimeout: 120_000,
  /** On: without traffic of its own, a quiet connection is cut by a proxy or lost unseen. */
  sendPings: true,
  /** 8 MiB: a few seconds of a fast stream for a reader that lags, not a slow leak. */
  maxBufferedAmount: 8 * MiB,
  /**
   * 128 MiB: eight messages at the default `maxPayload` at once, which a 1 GiB machine
   * holds beside `maxOutboundBytes` (40 peers each 15 MiB into a 16 MiB frame would
   * otherwise hold 600 MiB).
   */
  maxPartialBytes: 128 * MiB,
  /**
   * 64 MiB/s: a fraction of one core (zlib inflates several hundred MiB/s), and 6 KiB/s
   * for each of 10,000 connections — far above chat or JSON traffic. A compressed message
   * may inflate ~1000-fold, so a peer under every size limit could otherwise keep zlib,
   * and the handler of its output, busy without pause.
   */
  maxInflateRate: 64 * MiB,
  /** 100,000: far above what one process should hold, but finite. */
  maxConnections: 100_000,
  /** 256 MiB: what a 1 GiB machine can hold on top of everything else. */
  maxOutboundBytes: 256 * MiB,
  /**
   * Off: compression costs memory on every connection that uses it (see the README's
   * table) and CPU on every message; enable it for text-heavy traffic.
   */
  perMessageDeflate: false,
  /**
   * None: only the application knows the address its other nodes can reach (the
   * listening address may be 0.0.0.0 or behind NAT).
   */
  advertise: null,
  /**
   * On: a browser uses it only when the server offers it, on a connection it already has,
   * and it saves that browser a TCP and TLS handshake per WebSocket. Intermediaries do
   * not see inside TLS, so the usual objection to new HTTP/2 features (proxies that
   * mangle them) does not apply; a server behind a TLS-terminating proxy speaks HTTP/1.1
   * to it anyway.
   */
  webSocketOverHttp2: true,
});

type Check = (value: unknown) => boolean;

const positive: Check = (value) => typeof value === 'number' && value > 0;
const positiveInteger: Check = (value) => positive(value) && (Number.isInteger(value) || value === Infinity);
const boolean: Check = (value) => typeof value === 'boolean';
/** An http(s) origin: what the other nodes prefix a request's target with. */
const origin: Check = (value) => {
  if (typeof value !== 'string') return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '' && !value.endsWith('?') && !value.endsWith('#');
};

/** What each option must be, and how a bad value is named. */
const CHECKS: { readonly [K in keyof ResolvedServerOptions]: readonly [Check, string] } = {
  maxPayload: [positive, 'a positive number (Infinity for no limit)'],
  maxFragments: [positiveInteger, 'a positive integer (Infinity for no limit)'],
  handshakeTimeout: [positive, 'a positive number of ms'],
  closeTimeout: [positive, 'a positive number of ms'],
  // 0: no idle deadline and no Pings.
  idleTimeout: [(value) => typeof value === 'number' && value >= 0, 'a number of ms >= 0 (0 to disable)'],
  sendPings: [boolean, 'a boolean'],
  maxBufferedAmount: [positive, 'a positive number'],
  maxPartialBytes: [positive, 'a positive number (Infinity for no limit)'],
  maxInflateRate: [positive, 'a positive number (Infinity for no limit)'],
  maxConnections: [positive, 'a positive number'],
  maxOutboundBytes: [positive, 'a positive number'],
  // The codec's options are checked by its own resolver when the server makes its negotiator.
  webSocketOverHttp2: [boolean, 'a boolean'],
  advertise: [origin, 'an http: or https: origin, as http://10.0.0.5:8080 (no path)'],
  perMessageDeflate: [(value) => typeof value === 'boolean' || (typeof value === 'object' && value !== null), 'a boolean or an options object'],
};

const KEYS = Object.keys(DEFAULT_SERVER_OPTIONS) as readonly (keyof ResolvedServerOptions)[];

/** The keys of a permessage-deflate options object (RFC 7692 parameters and the codec's own). */
export const DEFLATE_OPTION_KEYS: readonly string[] = Object.keys(DEFLATE_DEFAULTS);

/**
 * Applies the defaults and checks every value: misuse (a value of the wrong kind, a key
 * that is no option) throws `HL_ERR_INVALID_ARGUMENT` when the server is made, never on
 * the first connection.
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  checkOptions(options, [...KEYS, 'engine'], 'the Server options');
  const resolved = { ...DEFAULT_SERVER_OPTIONS };
  for (const key of KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    const [check, expected] = CHECKS[key];
    if (!check(value)) throw invalidArgument(`${key} must be ${expected} (got ${shown(value)})`);
    (resolved as Record<string, unknown>)[key] = value;
  }
  // One spelling per node: `http://h:80/` and `http://h` are one origin.
  if (resolved.advertise !== null) resolved.advertise = new URL(resolved.advertise).origin;
  if (typeof resolved.perMessageDeflate === 'object') checkOptions(resolved.perMessageDeflate, DEFLATE_OPTION_KEYS, 'perMessageDeflate');
  return resolved;
}

export interface CloseOptions {
  /** ms to wait for peers to finish the closing handshake before dropping them. Default: the server's `closeTimeout`. */
  timeout?: number;
  /** The Close code sent to every peer. Default 1001 (Going Away, RFC 6455 §7.4.1): the server is going down. */
  code?: number;
  /** The Close reason. Default "server shutting down". */
  reason?: string;
}

export type ResolvedCloseOptions = Required<CloseOptions>;

const DEFAULT_CLOSE_REASON = 'server shutting down';
const CLOSE_KEYS: readonly (keyof CloseOptions)[] = ['timeout', 'code', 'reason'];

/**
 * A shutdown's options, with the server's `closeTimeout` for a missing timeout. A code or
 * reason no Close frame may carry (RFC 6455 §7.4, §5.5) throws `HL_ERR_INVALID_ARGUMENT`.
 */
export function resolveCloseOptions(options: CloseOptions, server: ResolvedServerOptions): ResolvedCloseOptions {
  checkOptions(options, CLOSE_KEYS, 'the close options');
  const timeout = options.timeout ?? server.closeTimeout;
  const code = options.code ?? CloseCode.GOING_AWAY;
  const reason = options.reason ?? DEFAULT_CLOSE_REASON;
  if (!(typeof timeout === 'number' && timeout >= 0 && Number.isFinite(timeout))) {
    throw invalidArgument(`close: timeout must be a finite number of ms >= 0 (got ${shown(timeout)})`);
  }
  if (typeof code !== 'number') throw invalidArgument(`close: code must be a number (got ${shown(code)})`);
  if (typeof reason !== 'string') throw invalidArgument(`close: reason must be a string (got ${shown(reason)})`);
  encodeClosePayload(code, reason);
  return { timeout, code, reason };
}

/** `server.drain()`'s options: how a node leaves a pool of nodes without a stampede. */
export interface DrainOptions {
  /**
   * ms over which the peers are closed (1012, Service Restart), each at a moment drawn
   * uniformly at random, so that their clients come back on other nodes in a trickle
   * rather than all at once. Default 10,000; 0 closes every peer at once.
   */
  window?: number;
  /**
   * ms, after the window, for the last closing handshakes: whoever is left at
   * `window + timeout` is dropped. Default: the server's `closeTimeout`.
   */
  timeout?: number;
}

export type ResolvedDrainOptions = Required<DrainOptions>;

/** A drain window spreads reconnections over seconds: 10 s suits a pool of a few nodes. */
export const DEFAULT_DRAIN_WINDOW = 10_000;
/** The longest delay a timer takes (2^31 - 1 ms, about 24.8 days): a longer one would fire at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;
const DRAIN_KEYS: readonly (keyof DrainOptions)[] = ['window', 'timeout'];

/**
 * A drain's options, with the server's `closeTimeout` for a missing timeout. `window` is a
 * whole number of ms from 0 to 2^31 - 1 (a timer's range); `timeout` follows `close()`'s
 * rule. Anything else throws `HL_ERR_INVALID_ARGUMENT`.
 */
export function resolveDrainOptions(options: DrainOptions, server: ResolvedServerOptions): ResolvedDrainOptions {
  checkOptions(options, DRAIN_KEYS, 'the drain options');
  const window = options.window ?? DEFAULT_DRAIN_WINDOW;
  const timeout = options.timeout ?? server.closeTimeout;
  if (!(typeof window === 'number' && Number.isInteger(window) && window >= 0 && window <= MAX_TIMER_DELAY)) {
    throw invalidArgument(`drain: window must be a whole number of ms from 0 to ${MAX_TIMER_DELAY} (got ${shown(window)})`);
  }
  if (!(typeof timeout === 'number' && timeout >= 0 && timeout <= MAX_TIMER_DELAY)) {
    throw invalidArgument(`drain: timeout must be a number of ms from 0 to ${MAX_TIMER_DELAY} (got ${shown(timeout)})`);
  }
  return { window, timeout };
}
