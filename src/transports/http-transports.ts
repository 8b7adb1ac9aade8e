import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HandshakeError, TransportError } from '../errors.js';
import { acceptResponse, rejectResponse, validateRequest } from '../protocol/handshake.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { Route, Server, UpgradeHead } from '../server/server.js';
import { type Payload, TRANSPORTS, type TransportName, type UpgradeAccept, UpgradeRejection, type UpgradeRequest } from '../types.js';
import type { Sweepable } from '../websocket/sweep.js';
import { serveClientBundle } from './client-bundle.js';
import { corsHeaders, preflight } from './cors.js';
import {
  type HttpTransportName,
  type HttpTransportOptions,
  type ResolvedHttpTransportOptions,
  resolveHttpTransportOptions,
} from './options.js';
import { HttpSession, type SessionHost } from './session.js';
import { refuseSocket } from './refusal.js';
import { SessionSocket } from './session-socket.js';
import { type Handshake, WireError, decodeBatch } from './wire.js';

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
 * whose code is a stable `HL_ERR_*`; none of them touches any other session.
 */
export class HttpTransports implements Sweepable, SessionHost {
  readonly options: ResolvedHttpTransportOptions;
  readonly server: Server;
  private readonly sessions = new Map<string, HttpSession<any>>();
  /** Sessions that ended recently, so that a late request learns why (410). */
  private readonly ended = new Map<string, { expired: boolean; at: number }>();
  private pendingHandshakes = 0;
  private swept = false;
  private closed = false;

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

  sessionEnded(session: HttpSession, expired: boolean): void {
    this.sessions.delete(session.sid);
    this.server.topics.removeSubscriber(session);
    // Bounded memory: the oldest records go first (a Map iterates in insertion order).
    if (this.ended.size >= this.options.maxSessions) this.ended.delete(this.ended.keys().next().value!);
    this.ended.set(session.sid, { expired, at: this.now() });
    if (this.sessions.size === 0 && this.ended.size === 0) this.leaveSweep();
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
    // A record of an ended session is kept long enough for a client to come back once.
    const keep = this.options.sessionTimeout * 2;
    for (const [sid, record] of this.ended) {
      if (now - record.at < keep) break;
      this.ended.delete(sid);
    }
    if (this.sessions.size === 0 && this.ended.size === 0) this.leaveSweep();
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
      serveClientBundle(request, response);
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
      const ack = parseAck(query, request, name, session.lastSeq);
      if (request.method === 'GET') this.poll(request, response, session, ack);
      else this.upstream(request, response, session, ack);
    } catch (error) {
      fail(response, error);
    }
    return true;
  }

  private find(sid: string, transport: HttpTransportName, path: string): HttpSession<any> {
    const session = this.sessions.get(sid);
    if (session === undefined) {
      const record = this.ended.get(sid);
      if (record?.expired) throw new TransportError('HL_ERR_SESSION_EXPIRED', 410, 'session expired: start a new one');
      if (record !== undefined) throw new TransportError('HL_ERR_SESSION_CLOSED', 410, 'session closed');
      throw new TransportError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
    }
    if (session.path !== path) throw new TransportError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
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
    if (this.sessions.size + this.pendingHandshakes >= this.options.maxSessions) {
      response.setHeader('Retry-After', '1');
      throw new TransportError('HL_ERR_TOO_MANY_SESSIONS', 503, 'too many sessions');
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
    let accepted: UpgradeAccept<unknown> | void | Promise<UpgradeAccept<unknown> | void>;
    try {
      accepted = route.handler.upgrade?.(upgradeRequest);
    } catch (error) {
      rejectUpgrade(response, error);
      return;
    }
    if (accepted instanceof Promise) {
      this.pendingHandshakes++;
      accepted.then(
        (value) => {
          this.pendingHandshakes--;
          this.createSession(request, response, route, transport, path, value);
        },
        (error: unknown) => {
          this.pendingHandshakes--;
          rejectUpgrade(response, error);
        },
      );
    } else {
      this.createSession(request, response, route, transport, path, accepted);
    }
  }

  private createSession(
    request: IncomingMessage,
    response: ServerResponse,
    route: Route,
    transport: HttpTransportName,
    path: string,
    accepted: UpgradeAccept<unknown> | void,
  ): void {
    if (response.destroyed || this.closed) return;
    if (accepted?.headers) for (const [name, value] of Object.entries(accepted.headers)) response.setHeader(name, value);
    this.joinSweep();
    // 144 bits from the CSPRNG: a session id is a bearer credential, never guessable.
    const sid = randomBytes(18).toString('base64url');
    const session = new HttpSession(sid, transport, path, request.socket.remoteAddress ?? '', route.handler, accepted?.data, this);
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

  private poll(request: IncomingMessage, response: ServerResponse, session: HttpSession<any>, ack: number): void {
    session.acknowledge(ack);
    if (session.readyState === 3) throw new TransportError('HL_ERR_SESSION_CLOSED', 410, 'session closed');
    if (session.transport === 'sse') {
      session.openStream(response, undefined, this.retryFor());
      return;
    }
    if (session.transport === 'long-polling') {
      // At most one outstanding long-poll per session (engine.io refuses the overlap with
      // 400 too); the first one stays held and the session lives on.
      if (session.holding) throw new TransportError('HL_ERR_CONCURRENT_POLL', 400, 'a long-poll is already pending for this session');
      if (!session.hasPending && session.readyState === 1) {
        session.hold(response);
        return;
      }
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
    session.begin();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: unknown) => {
      if (done) return;
      done = true;
      session.end();
      if (error !== null) {
        fail(response, error);
        return;
      }
      try {
        const body = Buffer.concat(chunks, size);
        let batch;
        try {
          batch = decodeBatch(body, { validateText: true });
        } catch (failure) {
          if (failure instanceof WireError) throw new TransportError('HL_ERR_MALFORMED_BODY', 400, failure.message);
          throw failure;
        }
        // Upstream order: a batch must start at or before the next expected number.
        if (batch.firstSeq > session.expectedSeq || batch.firstSeq === 0) {
          throw new TransportError('HL_ERR_MALFORMED_BODY', 400, `sequence gap: expected ${session.expectedSeq}, got ${batch.firstSeq}`);
        }
        for (const packet of batch.packets) {
          if (packet.kind === 'c' && !validClientClose(packet.code)) {
            throw new TransportError('HL_ERR_MALFORMED_BODY', 400, `invalid close code ${packet.code}`);
          }
        }
        session.acknowledge(ack);
        session.receive(batch.firstSeq, batch.packets);
        response.writeHead(204);
        response.end();
      } catch (failure) {
        fail(response, failure);
      }
    };
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        response.setHeader('Connection', 'close');
        finish(new TransportError('HL_ERR_BODY_TOO_LARGE', 413, `body over ${limit} bytes`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => finish(null));
    request.on('error', () => {
      if (!done) {
        done = true;
        session.end();
      }
    });
    request.on('close', () => {
      if (!done) {
        done = true;
        session.end();
      }
    });
  }

  /**
   * A WebSocket handshake naming a session (`?transport=websocket&sid=`): the upgrade of
   * an HTTP session (see session-socket.ts). Returns false for any other upgrade.
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
        const record = this.ended.get(sid);
        if (record !== undefined) throw new HandshakeError(record.expired ? 'HL_ERR_SESSION_EXPIRED' : 'HL_ERR_SESSION_CLOSED', 410, 'session ended');
        throw new HandshakeError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
      }
      if (!session.upgradable) throw new HandshakeError('HL_ERR_TRANSPORT_MISMATCH', 400, 'session cannot be upgraded now');
      socket.off('error', destroySocket);
      socket.write(acceptResponse({ key: validated.key, protocol: '', extensions: '' }));
      session.attachProbe(new SessionSocket(socket, head, this.server.sweep, this.server.options, session));
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, '');
      refuseSocket(socket, rejectResponse(refusal.status, refusal.message, refusal.headers as Record<string, string>), this.server.sweep);
    }
    return true;
  }

  /**
   * Server shutdown: every session is closed with `code` (1001 by default), held polls
   * and streams are answered, and no new session is accepted.
   */
  close(code: number = 1001, reason = 'server shutting down'): void {
    this.closed = true;
    for (const session of [...this.sessions.values()]) session.shutdown(code, reason);
  }

  /** Resolves once every session has ended, or after `timeout` ms. */
  async drained(timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
  }
}

/** Reads `ack` (or SSE's Last-Event-ID header); it may not name a message never sent. */
function parseAck(query: URLSearchParams, request: IncomingMessage, transport: HttpTransportName, lastSeq: number): number {
  let value = query.get('ack');
  if (value === null && transport === 'sse') {
    const header = request.headers['last-event-id'];
    if (typeof header === 'string' && header !== '') value = header;
  }
  if (value === null) return 0;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value)) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, 'ack must be a decimal integer');
  const ack = Number(value);
  if (ack > lastSeq) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, `ack ${ack} is past the last message sent (${lastSeq})`);
  return ack;
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function validClientClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005 || (code >= 3000 && code <= 4999);
}

function rejectUpgrade(response: ServerResponse, error: unknown): void {
  if (error instanceof UpgradeRejection) {
    for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
    respondError(response, error.status, 'HL_ERR_HANDSHAKE_REJECTED', error.message);
  } else {
    // A bug in the hook: 500 without details, as for WebSocket.
    respondError(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
  }
}

function fail(response: ServerResponse, error: unknown): void {
  if (error instanceof TransportError) respondError(response, error.status, error.code, error.message);
  else respondError(response, 500, 'HL_ERR_INVALID_STATE', '');
}

function respondError(response: ServerResponse, status: number, code: string, message: string): void {
  if (response.headersSent || response.destroyed) return;
  const body = JSON.stringify({ code, message });
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
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
  server.addShutdownStep(async (options) => {
    transports.close(options.code, options.reason);
    await transports.drained(options.timeout ?? server.options.closeTimeout);
  });
  return transports;
}

export function isTransportName(value: string): value is TransportName {
  return (TRANSPORTS as readonly string[]).includes(value);
}
