import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type ErrorCode, HandshakeError, TransportError } from '../errors.js';
import { acceptResponse, rejectResponse, validateRequest } from '../protocol/handshake.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import type { Route, Server, UpgradeHead } from '../server/server.js';
import { type Payload, ReadyState, TRANSPORTS, type TransportName, type UpgradeAccept, UpgradeRejection, type UpgradeRequest } from '../types.js';
import type { Sweepable } from '../timers/sweep.js';
import { serveClientBundle } from './client-bundle.js';
import { corsHeaders, preflight } from './cors.js';
import {
  type HttpTransportName,
  type HttpTransportOptions,
  type ResolvedHttpTransportOptions,
  resolveHttpTransportOptions,
} from './options.js';
import { PendingHandshake } from './pending-handshake.js';
import { refuseSocket } from './refusal.js';
import { type EndReason, HttpSession, type SessionHost } from './session.js';
import { SessionKeys } from './session-key.js';
import { SessionSocket } from './session-socket.js';
import { UnreadResponses } from './unread.js';
import { Upload, type UploadHost } from './upload.js';
import type { Handshake } from '../protocol/session/wire.js';

/**
 * The HTTP transports of a `Server`: SSE, long polling, short polling and fixed-interval
 * polling, on the same routes and with the same handler objects as WebSocket.
 *
 * Every request names its transport (`?transport=`) and, after the handshake, its session
 * (`&sid=`) on the route's path:
 *
 *     GET  path?transport=T                 handshake: a new session (runs `upgrade`, `open`)
 *     GET  path?transport=T&sid=S&ack=N     poll (or SSE stream): everything after N
 *     POST path?transport=T&sid=S&ack=N     upstream messages (a batch), answered 204
 *     GET  path?transport=websocket&sid=S   (Upgrade) moves the session onto a WebSocket
 *
 * Bad requests are answered with a precise status and a JSON body `{ code, message }`
 * whose code is a stable `HL_ERR_*`; none of them touches any other session, and no
 * message tells a number the client did not send (a sequence number the server is at
 * would tell an attacker what to acknowledge).
 */
export class HttpTransports implements Sweepable, SessionHost, UploadHost {
  readonly options: ResolvedHttpTransportOptions;
  readonly server: Server;
  private readonly sessions = new Map<string, HttpSession<any>>();
  /** Sessions that ended recently, so that a late request learns why (410). */
  private readonly ended = new Map<string, { why: EndReason; at: number }>();
  /** Handshakes waiting for an async `upgrade` hook, with their deadlines. */
  private readonly pending = new Set<PendingHandshake>();
  /** Upstream bodies being read, with their deadlines. */
  private readonly uploads = new Set<Upload>();
  /** Answers of no session left with bytes their client has not read. */
  private readonly unread = new UnreadResponses();
  /** Sessions per client key (`sessionKey`). */
  private readonly keys = new SessionKeys();
  private swept = false;
  private closed = false;
  /** Shutdown: called when the last session has ended. */
  private whenEmpty: (() => void) | null = null;

  constructor(server: Server, options: HttpTransportOptions = {}) {
    this.server = server;
    this.options = resolveHttpTransportOptions(options);
  }

  // ---- SessionHost ---------------------------------------------------------------------------

  now(): number {
    return this.server.sweep.now;
  }

  get closeTimeout(): number {
    return this.server.options.closeTimeout;
  }

  get handshakeTimeout(): number {
    return this.server.options.handshakeTimeout;
  }

  get maxBufferedAmount(): number {
    return this.server.options.maxBufferedAmount;
  }

  get outbound(): ByteBudget {
    return this.server.outbound;
  }

  subscribe(session: HttpSession, topic: string): void {
    this.server.topics.subscribe(session, topic);
  }

  unsubscribe(session: HttpSession, topic: string): void {
    this.server.topics.unsubscribe(session, topic);
  }

  isSubscribed(session: HttpSession, topic: string): boolean {
    return this.server.topics.isSubscribed(session, topic);
  }

  topicsOf(session: HttpSession): string[] {
    return this.server.topics.topicsOf(session);
  }

  publish(topic: string, data: Payload, isBinary: boolean | undefined, except: Subscriber): void {
    this.server.publish(topic, data, isBinary, { except });
  }

  sessionConfirmed(session: HttpSession): void {
    this.keys.confirm(session.key);
  }

  sessionEnded(session: HttpSession, why: EndReason): void {
    this.sessions.delete(session.sid);
    this.keys.close(session.key, session.isConfirmed);
    this.server.topics.unsubscribeAll(session);
    // Bounded memory: the oldest records go first (a Map iterates in insertion order).
    if (this.ended.size >= this.options.maxSessions) this.ended.delete(this.ended.keys().next().value!);
    this.ended.set(session.sid, { why, at: this.now() });
    if (this.sessions.size === 0) this.whenEmpty?.();
  }

  // ---- UploadHost ----------------------------------------------------------------------------

  uploadDone(upload: Upload): void {
    this.uploads.delete(upload);
  }

  uploadStill(upload: Upload): void {
    this.uploads.add(upload);
    this.joinSweep();
  }

  /** Answers `response` with `error`: a TransportError's status and code, else 500. */
  fail(response: ServerResponse, error: unknown): void {
    if (error instanceof TransportError) this.respond(response, error.status, error.code, error.message);
    else this.respond(response, 500, 'HL_ERR_INVALID_STATE', '');
  }

  /** Live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Finds a live session by id (for tests and diagnostics). */
  session(sid: string): HttpSession<any> | undefined {
    return this.sessions.get(sid);
  }

  // ---- The shared clock ------------------------------------------------------------------

  sweep(now: number): void {
    for (const session of this.sessions.values()) session.sweep(now);
    for (const pending of this.pending) if (now >= pending.deadline) this.handshakeExpired(pending);
    for (const upload of this.uploads) upload.sweep(now);
    this.unread.sweep(now, this.options.drainTimeout);
    // A record of an ended session is kept long enough for a client to come back once.
    const keep = this.options.sessionTimeout * 2;
    for (const [sid, record] of this.ended) {
      if (now - record.at < keep) break;
      this.ended.delete(sid);
    }
    if (this.idle) this.leaveSweep();
  }

  private get idle(): boolean {
    return this.sessions.size === 0 && this.ended.size === 0 && this.pending.size === 0 && this.uploads.size === 0 && this.unread.size === 0;
  }

  private joinSweep(): void {
    if (this.swept) return;
    this.swept = true;
    this.server.sweep.add(this);
  }

  private leaveSweep(): void {
    if (!this.swept) return;
    this.swept = false;
    this.server.sweep.delete(this);
  }

  // ---- Requests --------------------------------------------------------------------------

  /** The server's HTTP route handler: returns false for requests that are not ours. */
  handle(request: IncomingMessage, response: ServerResponse, route: Route): boolean {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (this.options.clientPath !== false && path === this.options.clientPath) {
      serveClientBundle(request, response, this.onAnswered);
      return true;
    }
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const transport = query.get('transport');
    // No transport: not ours (the server answers 426 on a WebSocket-only route).
    // transport=websocket without an Upgrade: the same answer tells the client what to do.
    if (transport === null || transport === 'websocket') return false;
    response.setHeader('Cache-Control', 'no-store');
    const cors = corsHeaders(request, this.options.cors);
    if (cors !== null) for (const [name, value] of Object.entries(cors)) response.setHeader(name, value);
    try {
      if (request.method === 'OPTIONS') {
        preflight(request, response, this.options.cors);
        return true;
      }
      if (!(this.options.transports as readonly string[]).includes(transport)) {
        throw new TransportError('HL_ERR_UNKNOWN_TRANSPORT', 400, `unknown or disabled transport ${JSON.stringify(transport)}`);
      }
      const name = transport as HttpTransportName;
      const sid = query.get('sid');
      if (request.method !== 'GET' && request.method !== 'POST') {
        response.setHeader('Allow', 'GET, POST, OPTIONS');
        throw new TransportError('HL_ERR_METHOD_NOT_ALLOWED', 405, `${request.method} is not a transport method`);
      }
      if (sid === null) {
        if (request.method !== 'GET') throw new TransportError('HL_ERR_UNKNOWN_SESSION', 400, 'a POST needs a session id (sid)');
        this.handshake(request, response, route, name, path, query);
        return true;
      }
      const session = this.find(sid, name, path);
      session.touch();
      const ack = parseAck(query, request, name, session.sentSeq);
      session.confirm();
      if (request.method === 'GET') this.poll(response, session, ack);
      else this.upstream(request, response, session, ack);
    } catch (error) {
      this.fail(response, error);
    }
    return true;
  }

  private find(sid: string, transport: HttpTransportName, path: string): HttpSession<any> {
    const session = this.sessions.get(sid);
    if (session === undefined || session.path !== path) {
      const record = session === undefined ? this.ended.get(sid) : undefined;
      if (record !== undefined) {
        const [code, message] = ENDED[record.why];
        throw new TransportError(code, 410, message);
      }
      throw new TransportError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
    }
    if (session.transport !== transport) {
      throw new TransportError('HL_ERR_TRANSPORT_MISMATCH', 400, `session uses ${session.transport}, not ${transport}`);
    }
    return session;
  }

  private handshake(
    request: IncomingMessage,
    response: ServerResponse,
    route: Route,
    transport: HttpTransportName,
    path: string,
    query: URLSearchParams,
  ): void {
    if (this.closed) throw new TransportError('HL_ERR_SERVER_CLOSING', 503, 'server is shutting down');
    if (this.sessions.size + this.pending.size >= this.options.maxSessions) {
      response.setHeader('Retry-After', '1');
      throw new TransportError('HL_ERR_TOO_MANY_SESSIONS', 503, 'too many sessions');
    }
    let key: string;
    try {
      key = String(this.options.sessionKey(request));
    } catch {
      // A bug in the application's key function: 500 without details, as for a hook.
      this.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
      return;
    }
    // Sessions of one client: those it never came back for are bounded tightly, the
    // others loosely (many users may share an address); the global cap is the last line.
    if (this.keys.unconfirmed(key) >= this.options.maxUnconfirmedPerKey) {
      response.setHeader('Retry-After', '1');
      throw new TransportError('HL_ERR_TOO_MANY_UNCONFIRMED', 429, 'too many new sessions from this client that were never used');
    }
    if (this.keys.live(key) >= this.options.maxSessionsPerKey) {
      response.setHeader('Retry-After', '1');
      throw new TransportError('HL_ERR_TOO_MANY_SESSIONS_FOR_KEY', 429, 'too many sessions for this client');
    }
    const upgradeRequest: UpgradeRequest = {
      url: request.url ?? '/',
      path,
      query,
      headers: request.headers,
      remoteAddress: request.socket.remoteAddress ?? '',
      transport,
      protocols: [],
    };
    let accepted: UpgradeAccept<unknown> | void | PromiseLike<UpgradeAccept<unknown> | void>;
    try {
      accepted = route.handler.upgrade?.(upgradeRequest);
    } catch (error) {
      this.rejectUpgrade(response, error);
      return;
    }
    this.keys.open(key);
    if (typeof (accepted as PromiseLike<unknown> | undefined)?.then !== 'function') {
      this.createSession(request, response, route, transport, path, key, accepted as UpgradeAccept<unknown> | void);
      return;
    }
    // Only a hook that answers later needs a deadline (and a place among the sessions).
    const pending = new PendingHandshake(request, response, route, transport, path, key, Date.now() + this.server.options.handshakeTimeout);
    this.pending.add(pending);
    this.joinSweep();
    Promise.resolve(accepted)
      .then(
        (value) => this.settle(pending, value, undefined),
        (error: unknown) => this.settle(pending, undefined, error ?? new Error('rejected')),
      )
      // Whatever goes wrong from here on fails this request alone, never the process.
      .catch(() => this.respond(pending.response, 500, 'HL_ERR_HANDSHAKE_REJECTED', ''));
  }

  /** The async `upgrade` hook answered; too late (or after shutdown) is ignored. */
  private settle(pending: PendingHandshake, accepted: UpgradeAccept<unknown> | void, error: unknown): void {
    if (pending.over) return;
    pending.over = true;
    this.pending.delete(pending);
    if (error !== undefined) {
      this.keys.close(pending.key, false);
      this.rejectUpgrade(pending.response, error);
      return;
    }
    this.createSession(pending.request, pending.response, pending.route, pending.transport, pending.path, pending.key, accepted);
  }

  private handshakeExpired(pending: PendingHandshake): void {
    pending.over = true;
    this.pending.delete(pending);
    this.keys.close(pending.key, false);
    this.respond(pending.response, 408, 'HL_ERR_HANDSHAKE_TIMEOUT', 'handshake timed out');
  }

  private createSession(
    request: IncomingMessage,
    response: ServerResponse,
    route: Route,
    transport: HttpTransportName,
    path: string,
    key: string,
    accepted: UpgradeAccept<unknown> | void,
  ): void {
    if (response.destroyed || this.closed) {
      this.keys.close(key, false);
      if (this.closed) this.respond(response, 503, 'HL_ERR_SERVER_CLOSING', 'server is shutting down');
      return;
    }
    try {
      if (accepted?.headers) for (const [name, value] of Object.entries(accepted.headers)) response.setHeader(name, value);
    } catch {
      // A header Node refuses (a line break in a value): a bug in the hook, as a throw.
      this.keys.close(key, false);
      for (const name of Object.keys(accepted?.headers ?? {})) response.removeHeader(name);
      this.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
      return;
    }
    this.joinSweep();
    // 144 bits from the CSPRNG: a session id is a bearer credential, never guessable.
    const sid = randomBytes(18).toString('base64url');
    const session = new HttpSession(sid, transport, path, request.socket.remoteAddress ?? '', key, route.handler, accepted?.data, this);
    this.sessions.set(sid, session);
    const handshake: Handshake = {
      sid,
      transport,
      hold: this.options.hold,
      interval: this.options.interval,
      heartbeat: this.options.heartbeat,
      sessionTimeout: this.options.sessionTimeout,
      maxBody: this.options.maxBody,
      ackDelay: this.options.ackDelay,
      maxPackets: this.options.maxPackets,
    };
    session.start();
    if (transport === 'sse') {
      session.openStream(response, handshake, this.retryFor());
    } else {
      // The handshake answer carries the open packet and whatever `open` sent.
      session.answerPoll(response, handshake);
    }
  }

  /** The SSE `retry` field: how soon a native EventSource comes back. */
  private retryFor(): number {
    return Math.min(3000, Math.floor(this.options.sessionTimeout / 4));
  }

  private poll(response: ServerResponse, session: HttpSession<any>, ack: number): void {
    session.acknowledge(ack);
    if (session.readyState === ReadyState.CLOSED) throw new TransportError('HL_ERR_SESSION_CLOSED', 410, 'session closed');
    if (session.transport === 'sse') {
      session.openStream(response, undefined, this.retryFor());
      return;
    }
    if (session.transport === 'long-polling') {
      // At most one outstanding long-poll per session (engine.io refuses the overlap with
      // 400 too); the first one stays held and the session lives on.
      if (session.holding) throw new TransportError('HL_ERR_CONCURRENT_POLL', 400, 'a long-poll is already pending for this session');
      session.supersedeAnswers();
      if (!session.hasPending && session.readyState === ReadyState.OPEN) {
        session.hold(response);
        return;
      }
    } else if (session.transport === 'polling') {
      session.supersedeAnswers();
    }
    session.answerPoll(response);
  }

  private upstream(request: IncomingMessage, response: ServerResponse, session: HttpSession<any>, ack: number): void {
    const limit = this.options.maxBody;
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > limit) {
      // 413 before reading a byte; the connection closes so the unread body goes with it.
      response.setHeader('Connection', 'close');
      throw new TransportError('HL_ERR_BODY_TOO_LARGE', 413, `body over ${limit} bytes`);
    }
    const upload = new Upload(request, response, session, ack, this);
    this.uploads.add(upload);
    this.joinSweep();
    upload.start();
  }

  /**
   * A WebSocket handshake naming a session (`?transport=websocket&sid=`): the upgrade of
   * an HTTP session (see session-socket.ts). Returns false for any other upgrade. A
   * refusal ends the socket on a deadline (refusal.ts).
   */
  handleSessionUpgrade(request: UpgradeHead, socket: Socket, head: Buffer): boolean {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    if (q === -1) return false;
    const query = new URLSearchParams(url.slice(q + 1));
    const sid = query.get('sid');
    if (query.get('transport') !== 'websocket' || sid === null) return false;
    const path = url.slice(0, q);
    if (this.server.findRoute(path) === null) return false;
    socket.on('error', destroySocket);
    try {
      const validated = validateRequest({ method: request.method ?? '', httpVersion: request.httpVersion, headers: request.headers });
      const session = this.sessions.get(sid);
      if (session === undefined || session.path !== path) {
        const record = session === undefined ? this.ended.get(sid) : undefined;
        if (record !== undefined) throw new HandshakeError(ENDED[record.why][0], 410, 'session ended');
        throw new HandshakeError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
      }
      if (!session.upgradable) throw new HandshakeError('HL_ERR_TRANSPORT_MISMATCH', 400, 'session cannot be upgraded now');
      socket.off('error', destroySocket);
      socket.write(acceptResponse({ key: validated.key, protocol: '', extensions: '' }));
      session.attachProbe(new SessionSocket(socket, head, this.server, session));
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, '');
      refuseSocket(socket, rejectResponse(refusal.status, refusal.message, refusal.headers as Record<string, string>), this.server.sweep);
    }
    return true;
  }

  // ---- Shutdown ----------------------------------------------------------------------------

  /**
   * Starts the shutdown: no new session is accepted, handshakes waiting for their hook
   * are answered 503, and every session is closed with `code` (1001 by default) — held
   * polls and streams carry the close packet at once.
   */
  close(code: number = 1001, reason = 'server shutting down'): void {
    this.closed = true;
    for (const pending of [...this.pending]) {
      pending.over = true;
      this.pending.delete(pending);
      this.keys.close(pending.key, false);
      this.respond(pending.response, 503, 'HL_ERR_SERVER_CLOSING', 'server is shutting down');
    }
    for (const session of [...this.sessions.values()]) session.shutdown(code, reason);
  }

  /**
   * The shutdown step: closes every session and resolves once each one's `close` hook has
   * run — when its client has the close packet, or at `timeout`, when those left are
   * dropped (1006). Driven by the sessions' own ends, not by polling.
   */
  async shutdown(code: number, reason: string, timeout: number): Promise<void> {
    this.close(code, reason);
    if (this.sessions.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.whenEmpty = null;
        for (const session of [...this.sessions.values()]) session.terminate();
        resolve();
      }, timeout);
      this.whenEmpty = () => {
        this.whenEmpty = null;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // ---- Answers ---------------------------------------------------------------------------

  private rejectUpgrade(response: ServerResponse, error: unknown): void {
    if (error instanceof UpgradeRejection) {
      try {
        for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
      } catch {
        this.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
        return;
      }
      this.respond(response, error.status, 'HL_ERR_HANDSHAKE_REJECTED', error.message);
    } else {
      // A bug in the hook: 500 without details, as for WebSocket.
      this.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
    }
  }

  private respond(response: ServerResponse, status: number, code: string, message: string): void {
    if (response.headersSent || response.destroyed) return;
    const body = JSON.stringify({ code, message });
    response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
    this.answered(response);
  }

  /** An answer of no session was written: if its client does not read it, it is swept. */
  private answered(response: ServerResponse): void {
    if (response.writableLength === 0) return;
    this.unread.add(response, this.now());
    this.joinSweep();
  }

  private readonly onAnswered = (response: ServerResponse): void => this.answered(response);
}

/** The answer to a request for a session that ended, by why it ended. */
const ENDED: Record<EndReason, [ErrorCode, string]> = {
  closed: ['HL_ERR_SESSION_CLOSED', 'session closed'],
  expired: ['HL_ERR_SESSION_EXPIRED', 'session expired: start a new one'],
  evicted: ['HL_ERR_SESSION_EVICTED', 'the server closed the session to free memory (1013): start a new one later'],
};

/** Reads `ack` (or SSE's Last-Event-ID header); it may not name a message never sent. */
function parseAck(query: URLSearchParams, request: IncomingMessage, transport: HttpTransportName, sent: number): number {
  let value = query.get('ack');
  if (value === null && transport === 'sse') {
    const header = request.headers['last-event-id'];
    if (typeof header === 'string' && header !== '') value = header;
  }
  if (value === null) return 0;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value)) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, 'ack must be a decimal integer');
  const ack = Number(value);
  // An ack frees what it names: only what this session really handed to a response.
  if (ack > sent) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, 'ack names a message this session has not sent');
  return ack;
}

function destroySocket(this: Socket): void {
  this.destroy();
}

/**
 * Serves the HTTP transports on every route of `server` (WebSocket stays as it is), and
 * the browser client at `clientPath`. Returns the registry, whose `close()` ends every
 * session on shutdown.
 */
export function enableHttpTransports(server: Server, options: HttpTransportOptions = {}): HttpTransports {
  const transports = new HttpTransports(server, options);
  if (transports.options.clientPath !== false) {
    // The bundle's path must reach the route handler: give it a route of its own that
    // refuses WebSocket upgrades, unless the application already owns the path.
    if (server.findRoute(transports.options.clientPath)?.path !== transports.options.clientPath) {
      server.route(transports.options.clientPath, {
        upgrade() {
          throw new UpgradeRejection(404, 'not a WebSocket route');
        },
      });
    }
  }
  server.setHttpRouteHandler((request, response, route) => transports.handle(request, response, route));
  // Upgrades that name a session move that session onto a WebSocket; every other upgrade
  // is the server's as before.
  server.setUpgradeInterceptor((request, socket, head) => transports.handleSessionUpgrade(request, socket, head));
  // A graceful shutdown ends the sessions too, with the same code as the WebSocket peers.
  // Pollers need the server still listening to fetch their close packet: the sessions get
  // up to the close timeout to finish before the server itself closes.
  server.addShutdownStep((options) =>
    transports.shutdown(options.code ?? 1001, options.reason ?? 'server shutting down', options.timeout ?? server.options.closeTimeout),
  );
  return transports;
}

export function isTransportName(value: string): value is TransportName {
  return (TRANSPORTS as readonly string[]).includes(value);
}
