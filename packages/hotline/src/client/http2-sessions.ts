import http2, { type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import type { RequestOptions } from 'node:https';

/**
 * The HTTP/2 connections the client opens WebSockets on (RFC 8441): one per origin and
 * `tls` options object, shared by every WebSocket to that origin, as a browser shares
 * one connection per origin (RFC 9113 §9.1: "Clients SHOULD NOT open more than one
 * HTTP/2 connection to a given host and port pair").
 *
 * A session is held by leases, one per WebSocket (from its handshake to its stream's
 * close). The last lease given back closes a session this module opened: a WebSocket
 * client must not keep a process alive once its connections are closed. A session the
 * application passed in (`http2: { session }`) is its own: it is never closed here.
 *
 * A session that received GOAWAY, failed or closed is forgotten at once, so that the next
 * WebSocket to the origin opens a new one (RFC 9113 §6.8: no new stream may be started
 * on a connection after GOAWAY). The streams already on it end as the session does.
 */

export interface SessionLease {
  readonly session: ClientHttp2Session;
  /** Gives the lease back; the second call does nothing. */
  release(): void;
}

interface Entry {
  readonly session: ClientHttp2Session;
  readonly key: string;
  readonly pool: Map<string, Entry>;
  /** Whether this module opened the session, and so closes it after its last lease. */
  readonly owned: boolean;
  users: number;
}

/** What a session needs to have heard before a WebSocket may be opened on it. */
interface Tracked {
  /** The server's SETTINGS frame has arrived (RFC 9113 §3.4: the first frame it sends). */
  settingsReceived: boolean;
}

/** Pools per `tls` options object. */
const pools = new WeakMap<object, Map<string, Entry>>();
/** The pool of the WebSockets given no `tls` options. */
const defaultPool = new Map<string, Entry>();
const tracked = new WeakMap<ClientHttp2Session, Tracked>();
/** Each session this module opened, to its pool entry. */
const entries = new WeakMap<ClientHttp2Session, Entry>();

/**
 * A lease on the session for `origin` (`https://host:port` or `http://host:port`): the one
 * already open with the same `tls` object, or a new one. With `given`, a lease on it.
 */
export function acquireSession(origin: string, tls: RequestOptions | undefined, given?: ClientHttp2Session): SessionLease {
  if (given !== undefined) {
    track(given);
    return new Lease({ session: given, key: '', pool: new Map(), owned: false, users: 1 });
  }
  const pool = tls === undefined ? defaultPool : poolFor(tls);
  let entry = pool.get(origin);
  if (entry === undefined || entry.session.closed || entry.session.destroyed) {
    const session = http2.connect(origin, sessionOptions(tls));
    entry = { session, key: origin, pool, owned: true, users: 0 };
    pool.set(origin, entry);
    track(session);
    session.on('goaway', forgetSession);
    session.on('close', forgetSession);
    // A session's errors are reported to each WebSocket through its stream or its wait
    // for SETTINGS; without a listener, one would be thrown into the event loop.
    session.on('error', forgetSession);
    entries.set(session, entry);
  }
  entry.users += 1;
  return new Lease(entry);
}

function forgetSession(this: ClientHttp2Session): void {
  const entry = entries.get(this);
  if (entry !== undefined && entry.pool.get(entry.key) === entry) entry.pool.delete(entry.key);
}

class Lease implements SessionLease {
  readonly session: ClientHttp2Session;
  private entry: Entry | null;

  constructor(entry: Entry) {
    this.session = entry.session;
    this.entry = entry;
  }

  release(): void {
    const entry = this.entry;
    if (entry === null) return;
    this.entry = null;
    entry.users -= 1;
    if (entry.users > 0 || !entry.owned) return;
    if (entry.pool.get(entry.key) === entry) entry.pool.delete(entry.key);
    // RFC 9113 §6.8: a graceful close, GOAWAY with NO_ERROR; nothing is left on it.
    if (!entry.session.closed && !entry.session.destroyed) entry.session.close();
  }
}

function poolFor(tls: object): Map<string, Entry> {
  let pool = pools.get(tls);
  if (pool === undefined) {
    pool = new Map();
    pools.set(tls, pool);
  }
  return pool;
}

/**
 * The client's `tls` options (ca, rejectUnauthorized, servername, cert, key, ...) as the
 * session's TLS options: the same certificate checks as a wss:// WebSocket over
 * HTTP/1.1. ALPN is HTTP/2's own ("h2", RFC 9113 §3.2), set by `http2.connect`.
 */
function sessionOptions(tls: RequestOptions | undefined): SecureClientSessionOptions {
  if (tls === undefined) return {};
  const { ALPNProtocols: _alpn, agent: _agent, ...rest } = tls as RequestOptions & { ALPNProtocols?: unknown };
  return rest as SecureClientSessionOptions;
}

function track(session: ClientHttp2Session): Tracked {
  let state = tracked.get(session);
  if (state === undefined) {
    // Seen first when already connected (a session the application opened): whether its
    // SETTINGS came is not known, and `waitForSettings` asks with a PING.
    state = { settingsReceived: false };
    tracked.set(session, state);
    session.on('remoteSettings', markSettings);
  }
  return state;
}

function markSettings(this: ClientHttp2Session): void {
  tracked.get(this)!.settingsReceived = true;
}

/**
 * Calls `done(null)` once the server's SETTINGS are known, `done(error)` if the session
 * fails or closes first. RFC 8441 §3: a client MUST NOT send `:protocol` before it has
 * received SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, and SETTINGS is the first frame a server
 * sends (RFC 9113 §3.4). For a session already connected whose SETTINGS were not watched,
 * a PING's ACK is the proof: the server sent its SETTINGS before anything else.
 * Returns a function that cancels the wait.
 */
export function waitForSettings(session: ClientHttp2Session, done: (error: Error | null) => void): () => void {
  const state = track(session);
  if (state.settingsReceived) {
    done(null);
    return ignore;
  }
  let finished = false;
  const finish = (error: Error | null): void => {
    if (finished) return;
    finished = true;
    cancel();
    done(error);
  };
  const onSettings = (): void => finish(null);
  const onError = (error: Error): void => finish(error);
  const onClose = (): void => finish(new Error('the HTTP/2 connection closed before its SETTINGS arrived'));
  const onGoaway = (code: number): void => finish(new Error(`the server sent GOAWAY (${http2ErrorName(code)}) before the WebSocket was opened`));
  const cancel = (): void => {
    session.off('remoteSettings', onSettings);
    session.off('error', onError);
    session.off('close', onClose);
    session.off('goaway', onGoaway);
  };
  session.on('remoteSettings', onSettings);
  session.on('error', onError);
  session.on('close', onClose);
  session.on('goaway', onGoaway);
  if (session.closed || session.destroyed) onClose();
  else if (!session.connecting) {
    session.ping((error) => {
      if (error) finish(error);
      else {
        state.settingsReceived = true;
        finish(null);
      }
    });
  }
  return () => {
    finished = true;
    cancel();
  };
}

/** RFC 9113 §7: the name of an HTTP/2 error code, as nghttp2 spells it. */
export function http2ErrorName(code: number): string {
  return ERROR_NAMES.get(code) ?? `error code ${code}`;
}

const ERROR_NAMES = new Map<number, string>(
  Object.entries(http2.constants)
    .filter(([name]) => name.startsWith('NGHTTP2_') && /^NGHTTP2_(NO_ERROR|PROTOCOL_ERROR|INTERNAL_ERROR|FLOW_CONTROL_ERROR|SETTINGS_TIMEOUT|STREAM_CLOSED|FRAME_SIZE_ERROR|REFUSED_STREAM|CANCEL|COMPRESSION_ERROR|CONNECT_ERROR|ENHANCE_YOUR_CALM|INADEQUATE_SECURITY|HTTP_1_1_REQUIRED)$/.test(name))
    .map(([name, value]) => [value as number, name.slice('NGHTTP2_'.length)]),
);

function ignore(): void {}
