import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, TransportError } from '../errors.js';
import type { ServerSessionLimits } from '../protocol/session/server-session.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import type { Server } from '../server/server.js';
import type { Route, ServerTransport, ShutdownOptions, UpgradeHead } from '../server/transport-contract.js';
import type { Opening } from '../server/opening.js';
import { type Payload, type Peer, ReadyState, type RouteParams, TRANSPORTS, Transport, type TransportName, UpgradeRejection } from '../types.js';
import { serveClientBundle } from './client-bundle.js';
import { corsHeaders, preflight } from './cors.js';
import { ENDED, EndedSessions, type EndReason } from './ended-sessions.js';
import { answerError, answerFailure } from './error-answer.js';
import { SessionRouter } from './forward.js';
import {
  type HttpTransportName,
  type HttpTransportOptions,
  type ResolvedHttpTransportOptions,
  resolveHttpTransportOptions,
} from './options.js';
import type { PendingHandshake } from './pending-handshake.js';
import type { HttpSession } from './session.js';
import type { HostedSession } from './session-host.js';
import { abandonHandshake, handshake } from './session-handshake.js';
import { SessionKeys } from './session-key.js';
import { checkInstanceId } from './session-owner.js';
import { claimSessionUpgrade } from './session-upgrade.js';
import { refuseSocket } from './refusal.js';
import { rejectResponse } from '../protocol/handshake.js';
import { requestedAck } from './transport-choice.js';
import { UnreadResponses } from './unread.js';
import { Upload } from './upload.js';
import { closeAfterAnswer } from './connection-close.js';

/**
 * The HTTP transports of a `Server`: SSE, long polling, short polling and fixed-interval
 * polling, on the same routes and with the same handler objects as WebSocket, plugged
 * into the server through its transport contract (`ServerTransport`).
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
// Only the public contract is declared here: the internal ones (Sweepable,
// HandshakeRegistry, UpgradeRegistry, UploadHost) are checked where `this` is passed as
// them, and stay out of the published declarations.
export class HttpTransports implements ServerTransport {
  /** The options with their defaults, checked. */
  readonly options: ResolvedHttpTransportOptions;
  /** @internal What every session's core is bounded by. */
  readonly limits: ServerSessionLimits;
  /** The server whose routes these transports serve. */
  readonly server: Server;
  /** @internal Sessions per client key (`sessionKey`). */
  readonly keys = new SessionKeys();
  /** @internal This node's instance id (its engine's), which prefixes its session ids. */
  readonly instanceId: string;
  /** Requests of sessions other nodes own go there (`forward.ts`). */
  private readonly router: SessionRouter;
  private readonly sessions = new Map<string, HttpSession<any>>();
  /** Sessions that ended recently, so that a late request learns why (410). */
  private readonly ended: EndedSessions;
  /** Handshakes waiting for an async `upgrade` hook, with their deadlines. */
  private readonly pending = new Set<PendingHandshake>();
  /** Upstream bodies being read, with their deadlines. */
  private readonly uploads = new Set<Upload>();
  /** Answers of no session left with bytes their client has not read. */
  private readonly unread = new UnreadResponses();
  private swept = false;
  private closed = false;
  /** Shutdown: called when the last session has ended. */
  private whenEmpty: (() => void) | null = null;
  /** Set by `drain()`: new sessions are refused, open ones served; resolved by the last to end. */
  private draining: { readonly empty: Promise<void>; resolve: () => void } | null = null;

  constructor(server: Server, options: HttpTransportOptions = {}) {
    this.server = server;
    this.options = resolveHttpTransportOptions(options);
    this.ended = new EndedSessions(this.options.maxSessions);
    this.instanceId = checkInstanceId(server.topics.instanceId);
    this.router = new SessionRouter(this.instanceId, server.topics.nodes, {
      respond: (response, status, code, message) => this.respond(response, status, code, message),
      refuse: (socket, status, message) => refuseSocket(socket, rejectResponse(status, message), server.sweep),
    });
    const { maxQueue, maxQueueMessages, hold, heartbeat, sessionTimeout, confirmTimeout } = this.options;
    const { closeTimeout, handshakeTimeout } = server.options;
    this.limits = { maxQueue, maxQueueMessages, hold, heartbeat, sessionTimeout, confirmTimeout, closeTimeout, probeTimeout: handshakeTimeout };
  }

  // ---- SessionHost, HandshakeRegistry --------------------------------------------------------

  /** @internal */
  now(): number {
    return this.server.sweep.now;
  }

  /** @internal */
  get handshakeTimeout(): number {
    return this.server.options.handshakeTimeout;
  }

  /** @internal */
  get maxBufferedAmount(): number {
    return this.server.options.maxBufferedAmount;
  }

  /** @internal */
  get outbound(): ByteBudget {
    return this.server.outbound;
  }

  /** @internal */
  get closing(): boolean {
    return this.closed;
  }

  /** @internal */
  get load(): number {
    return this.sessions.size + this.pending.size;
  }

  /** @internal RecoveryHost */
  get topics(): Server['topics'] {
    return this.server.topics;
  }

  /** @internal RecoveryHost */
  engineError(error: Error): void {
    this.server.engineError(error);
  }

  /** @internal */
  subscribe(session: HostedSession, topic: string): boolean {
    return this.server.topics.subscribe(session, topic);
  }

  /** @internal */
  unsubscribe(session: HostedSession, topic: string): void {
    this.server.topics.unsubscribe(session, topic);
  }

  /** @internal */
  isSubscribed(session: HostedSession, topic: string): boolean {
    return this.server.topics.isSubscribed(session, topic);
  }

  /** @internal */
  topicsOf(session: HostedSession): string[] {
    return this.server.topics.topicsOf(session);
  }

  /** @internal */
  publish(topic: string, data: Payload, isBinary: boolean | undefined, except: Subscriber): void {
    this.server.publish(topic, data, isBinary, { except });
  }

  /** @internal */
  sessionConfirmed(session: HostedSession): void {
    this.keys.confirm(session.key);
  }

  /** @internal */
  sessionEnded(session: HostedSession, why: EndReason): void {
    this.sessions.delete(session.sid);
    this.keys.close(session.key, session.core.isConfirmed);
    this.server.topics.unsubscribeAll(session);
    this.ended.add(session.sid, why, this.now());
    if (this.sessions.size === 0) {
      this.whenEmpty?.();
      this.draining?.resolve();
    }
  }

  /** @internal */
  wait(pending: PendingHandshake): void {
    this.pending.add(pending);
    this.joinSweep();
  }

  /** @internal */
  settled(pending: PendingHandshake): void {
    this.pending.delete(pending);
  }

  /** @internal */
  admit(session: HttpSession<any>): void {
    this.joinSweep();
    this.sessions.set(session.sid, session);
  }

  /** @internal */
  lookup(sid: string, path: string): HttpSession<any> | EndReason | undefined {
    const session = this.sessions.get(sid);
    if (session !== undefined) return session.path === path ? session : undefined;
    return this.ended.get(sid);
  }

  // ---- UploadHost ----------------------------------------------------------------------------

  /** @internal */
  uploadDone(upload: Upload): void {
    this.uploads.delete(upload);
  }

  /** @internal */
  uploadStill(upload: Upload): void {
    this.uploads.add(upload);
    this.joinSweep();
  }

  /** @internal Answers `response` with `error`: a TransportError's status and code, else 500. */
  /** @internal */
  fail(response: ServerResponse, error: unknown): void {
    answerFailure(response, error);
    this.answered(response);
  }

  /** Live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** @internal Finds a live session by id (for tests and diagnostics). */
  session(sid: string): HttpSession<any> | undefined {
    return this.sessions.get(sid);
  }

  // ---- The shared clock ------------------------------------------------------------------

  /** @internal Sweepable */
  sweep(now: number): void {
    for (const session of this.sessions.values()) session.sweep(now);
    for (const pending of this.pending) if (now >= pending.deadline) abandonHandshake(this, pending, 408, 'HL_ERR_HANDSHAKE_TIMEOUT', 'handshake timed out');
    for (const upload of this.uploads) upload.sweep(now);
    this.unread.sweep(now, this.options.drainTimeout);
    // A record of an ended session is kept long enough for a client to come back once.
    this.ended.sweep(now, this.options.sessionTimeout * 2);
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

  // ---- Requests (ServerTransport) --------------------------------------------------------

  /** A plain HTTP request of a route: returns false for requests that are not ours. */
  handleRequest(request: IncomingMessage, response: ServerResponse, route: Route, params: RouteParams): boolean {
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
    if (transport === null || transport === Transport.WEBSOCKET) return false;
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
        if (this.draining !== null && !this.closed) throw drainingError();
        handshake(this, request, response, route, params, name, path, query);
        return true;
      }
      if (this.forwarded(request, response, sid, path)) return true;
      const session = this.find(sid, name, path);
      session.touch();
      const ack = requestedAck(query, request, name, session.core);
      session.confirm();
      if (request.method === 'GET') this.poll(response, session, ack);
      else this.upstream(request, response, session, ack);
    } catch (error) {
      this.fail(response, error);
    }
    return true;
  }

  /** The open sessions, in the order they opened (`server.peers`); closing them meanwhile is safe. */
  *peers(): Generator<Peer> {
    for (const session of this.sessions.values()) if (session.readyState === ReadyState.OPEN) yield session;
  }

  /** An upgrade naming a session moves it onto a WebSocket; every other upgrade is the server's. */
  claimUpgrade(request: UpgradeHead, opening: Opening, head: Buffer): boolean {
    return claimSessionUpgrade(this, request, opening, head);
  }

  /** @internal A session of another node, not ended here: its upgrade goes to its owner. */
  forwardUpgrade(sid: string, request: UpgradeHead, socket: Socket, head: Buffer): boolean {
    const owner = this.router.ownerElsewhere(sid, request.headers);
    if (owner === undefined) return false;
    this.router.forwardUpgrade(request, socket, head, owner);
    return true;
  }

  /** A session this node does not know, that another node owns: the request goes there. */
  private forwarded(request: IncomingMessage, response: ServerResponse, sid: string, path: string): boolean {
    if (this.lookup(sid, path) !== undefined) return false;
    const owner = this.router.ownerElsewhere(sid, request.headers);
    if (owner === undefined) return false;
    this.router.forwardRequest(request, response, owner);
    return true;
  }

  private find(sid: string, transport: HttpTransportName, path: string): HttpSession<any> {
    const found = this.lookup(sid, path);
    if (found === undefined) throw new TransportError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
    if (typeof found === 'string') {
      const [code, message] = ENDED[found];
      throw new TransportError(code, 410, message);
    }
    if (found.transport !== transport) {
      throw new TransportError('HL_ERR_TRANSPORT_MISMATCH', 400, `session uses ${found.transport}, not ${transport}`);
    }
    return found;
  }

  private poll(response: ServerResponse, session: HttpSession<any>, ack: number): void {
    session.acknowledge(ack);
    if (session.readyState === ReadyState.CLOSED) throw new TransportError('HL_ERR_SESSION_CLOSED', 410, 'session closed');
    session.link!.poll(response);
  }

  private upstream(request: IncomingMessage, response: ServerResponse, session: HttpSession<any>, ack: number): void {
    const limit = this.options.maxBody;
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > limit) {
      // 413 before reading a byte; the connection closes so the unread body goes with it.
      closeAfterAnswer(response);
      throw new TransportError('HL_ERR_BODY_TOO_LARGE', 413, `body over ${limit} bytes`);
    }
    const upload = new Upload(request, response, session, ack, this);
    this.uploads.add(upload);
    this.joinSweep();
    upload.start();
  }

  // ---- Shutdown ----------------------------------------------------------------------------

  /**
   * Starts the shutdown: no new session is accepted, handshakes waiting for their hook
   * are answered 503, and every session is closed with `code` (1001 by default) — held
   * polls and streams carry the close packet at once.
   */
  close(code: number = CloseCode.GOING_AWAY, reason = 'server shutting down'): void {
    this.closed = true;
    this.router.close();
    for (const pending of [...this.pending]) abandonHandshake(this, pending, 503, 'HL_ERR_SERVER_CLOSING', 'server is shutting down');
    for (const session of [...this.sessions.values()]) session.shutdown(code, reason);
  }

  /**
   * The shutdown step (ServerTransport): closes every session and resolves once each
   * one's `close` hook has run — when its client has the close packet, or at `timeout`,
   * when those left are dropped (1006). Driven by the sessions' own ends, not by polling.
   * Pollers need the server still listening to fetch their close packet: the server
   * keeps listening until this resolves.
   */
  async shutdown({ code, reason, timeout }: ShutdownOptions): Promise<void> {
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

  /**
   * The drain step (ServerTransport): from now on a new session is refused 503
   * `HL_ERR_DRAINING` (its client reconnects, through the load balancer, to another node),
   * and so is a handshake still waiting for its hook; every request of an open session is
   * served as before, until the server closes that session. Resolves once no session is
   * left. Calling it again returns the same promise.
   */
  drain(): Promise<void> {
    if (this.draining !== null) return this.draining.empty;
    let resolve!: () => void;
    const empty = new Promise<void>((done) => (resolve = done));
    this.draining = { empty, resolve };
    const refused = drainingError();
    for (const pending of [...this.pending]) abandonHandshake(this, pending, refused.status, refused.code, refused.message);
    if (this.sessions.size === 0) resolve();
    return empty;
  }

  // ---- Answers ---------------------------------------------------------------------------

  respond(response: ServerResponse, status: number, code: string, message: string): void {
    answerError(response, status, code, message);
    this.answered(response);
  }

  /** An answer of no session was written: if its client does not read it, it is swept. */
  answered(response: ServerResponse): void {
    if (response.writableLength === 0) return;
    this.unread.add(response, this.now());
    this.joinSweep();
  }

  private readonly onAnswered = (response: ServerResponse): void => this.answered(response);
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
    if (server.registeredRoute(transports.options.clientPath) === null) {
      server.route(transports.options.clientPath, {
        upgrade() {
          throw new UpgradeRejection(404, 'not a WebSocket route');
        },
      });
    }
  }
  server.plug(transports);
  return transports;
}

/** A new session on a draining node. */
function drainingError(): TransportError {
  return new TransportError('HL_ERR_DRAINING', 503, 'server is draining for a restart: connect again');
}

export function isTransportName(value: string): value is TransportName {
  return (TRANSPORTS as readonly string[]).includes(value);
}
