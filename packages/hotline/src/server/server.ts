import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, Http2Session, ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { HandshakeError, HotlineError, checkOptions, invalidArgument, shown } from '../errors.js';
import { ReadyState } from '../protocol/ready-state.js';
import type { ValidatedRequest } from '../protocol/handshake.js';
import { findEndOfHead, isWebSocketUpgrade, parseRequestHead } from '../protocol/request-head.js';
import { originForm } from '../protocol/request-target.js';
import type { PubSubEngine } from '../pubsub/engine.js';
import { MemoryEngine } from '../pubsub/memory-engine.js';
import { checkTopic } from '../pubsub/topic.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import {
  type Handler,
  type Payload,
  type Peer,
  type RouteParams,
  Transport,
  type UpgradeAccept,
  UpgradeRejection,
  type UpgradeRequest,
} from '../types.js';
import { ByteBudget } from '../resources/byte-budget.js';
import { InflateScheduler } from '../websocket/inflate-scheduler.js';
import { toBuffer } from '../websocket/payload.js';
import { Publication } from '../websocket/publication.js';
import { Sweep, type Sweepable, granularityFor } from '../timers/sweep.js';
import { type ExtensionNegotiator, deflateNegotiator, noExtensions } from './extensions.js';
import {
  type CloseOptions,
  type DrainOptions,
  type ResolvedDrainOptions,
  type ResolvedServerOptions,
  type ServerOptions,
  resolveCloseOptions,
  resolveDrainOptions,
  resolveServerOptions,
} from './options.js';
import { Drain } from './drain.js';

export type { CloseOptions, DrainOptions } from './options.js';
import { PeerContext, WebSocketPeer, peerOf } from './peer.js';
import { type RouteMatch, RouteTable } from './route-table.js';
import { envelopeOfTarget } from './envelope-request.js';
import type { RecoveryGate } from './recovery.js';
import { connectionsWithin, fileDescriptorLimit } from './fd-limit.js';
import type { Route, ServerTransport, UpgradeHead } from './transport-contract.js';
import { Http1Opening, Http2Opening, type Opening, refuseConnection } from './opening.js';
import { type ListenOptions, type ResolvedListenOptions, createSecureListener, isHttp2Server, resolveListenOptions } from './listen-options.js';
import { Http2Sessions } from '../http2/sessions.js';

export type { ListenOptions } from './listen-options.js';
export type { Opening } from './opening.js';

export type { Route, ServerTransport, ShutdownOptions, UpgradeHead } from './transport-contract.js';

/**
 * A handler of the plain HTTP (non-upgrade) requests of a route, with the server it
 * belongs to: `ServerTransport.handleRequest` with the server bound. Returns false to
 * let the server answer.
 */
export type HttpRouteHandler = (request: IncomingMessage, response: ServerResponse, route: Route, server: Server, params: RouteParams) => boolean;

export interface PublishOptions {
  /** A peer not to send to (usually the publisher). */
  except?: Peer<any> | Subscriber<Publication>;
  /** Called for each subscriber that refused the message (over its limits). */
  onDropped?: (peer: Peer<any>) => void;
}

/** What `attach` accepts: an HTTP/1.1 server, plain or TLS, or an HTTP/2 one (`node:http2`). */
export type AnyHttpServer = http.Server | HttpsServer | Http2SecureServer | Http2Server;

/**
 * The Hotline server: routes by path to handler objects, speaks WebSocket on the
 * `upgrade` event and lets HTTP transports serve the same routes. Attach it to an
 * existing `http.Server`/`https.Server` to share the application's port, or `listen`.
 */
// PeerHost is internal: it is checked where the server hands itself to its peers' context.
export class Server {
  /** The options with their defaults, checked. */
  readonly options: ResolvedServerOptions;
  /**
   * @internal Who is subscribed to what, and the delivery of publishes: the server uses
   * pub/sub through the engine contract only (`pubsub/engine.ts`).
   */
  readonly topics: PubSubEngine<Publication>;
  /** @internal Deadlines of every connection of this server (handshakes, idle, close). */
  readonly sweep: Sweep;
  /** @internal Bytes queued for every peer on every transport, together (`maxOutboundBytes`). */
  readonly outbound: ByteBudget;
  /** @internal Bytes held in incomplete frames and messages by every connection (`maxPartialBytes`). */
  readonly partial: ByteBudget;
  /** @internal Inflated bytes per second, shared in turns by every connection (`maxInflateRate`); null: unlimited. */
  readonly inflate: InflateScheduler | null;

  private readonly routes = new RouteTable();
  /** What the peers of each route share, made once per route. */
  private readonly peerContexts = new WeakMap<Route<any>, PeerContext<any>>();
  /**
   * Open WebSocket peers. They are not kept in a set of their own: every one of them is in
   * the sweep until it closes, and a second set would cost each connection another entry
   * (about 33 B at 10,000). `close()` finds them there.
   */
  private peerCount = 0;
  private readonly handshakes = new Set<PendingHandshake>();
  private readonly attached: AnyHttpServer[] = [];
  private ownServer: http.Server | null = null;
  /** `listen({ tls })`'s own server: HTTP/2 and HTTP/1.1 over TLS (ALPN), or HTTPS alone. */
  private secureServer: Http2SecureServer | HttpsServer | null = null;
  /** The HTTP/2 connections of attached servers, closed with GOAWAY at shutdown. */
  private readonly http2Sessions = new Http2Sessions();
  private listener: net.Server | null = null;
  private closing = false;
  /** The shutdown in progress, once `close()` was called. */
  private closed: Promise<void> | null = null;
  private whenEmpty: (() => void) | null = null;
  /** The drain in progress (`drain()`), and the promise it returned. */
  private drainer: Drain | null = null;
  private drained: Promise<void> | null = null;
  private listenerClosed: Promise<void> | null = null;
  /** The transports plugged in besides WebSocket, in order (`plug`). */
  private readonly plugged: ServerTransport[] = [];
  private extensionNegotiator: ExtensionNegotiator = noExtensions;

  constructor(options: ServerOptions = {}) {
    this.options = resolveServerOptions(options);
    const engine = options.engine ?? new MemoryEngine<Publication>();
    if (!isEngine(engine)) throw invalidArgument(`engine must be a pub/sub engine (MemoryEngine, RedisEngine) (got ${shown(engine)})`);
    engine.bind({
      message: (topic, data, isBinary, epoch, offset) => new Publication(topic, data, isBinary, epoch, offset),
      error: (error) => this.engineError(error),
    });
    this.topics = engine;
    const deflate = this.options.perMessageDeflate;
    if (deflate !== false) this.extensionNegotiator = deflateNegotiator(deflate);
    this.outbound = new ByteBudget('maxOutboundBytes', this.options.maxOutboundBytes);
    this.partial = new ByteBudget('maxPartialBytes', this.options.maxPartialBytes);
    this.inflate = this.options.maxInflateRate === Infinity ? null : new InflateScheduler(this.options.maxInflateRate);
    this.sweep = new Sweep(granularityFor(this.options.handshakeTimeout, this.options.closeTimeout, this.options.idleTimeout / 2));
  }

  /**
   * Serves `handler` on `path`, over every transport. `path` is:
   *
   * - a literal pathname (`/chat`), matched exactly (the query string aside);
   * - a pattern: a segment `:name` matches one non-empty segment, percent-decoded, as
   *   `params.name` (`/rooms/:id` matches `/rooms/42`, not `/rooms` nor `/rooms/42/x`);
   *   a last segment `*` matches the rest of the path, zero or more segments,
   *   percent-decoded, as `params['*']` (`/static/*`: `/static` and `/static/` give '',
   *   `/static/a/b.css` gives 'a/b.css'); a parameter whose percent-encoding is malformed
   *   does not match;
   * - `*`: every path no other route matches (requests that are not WebSocket handshakes
   *   still reach the application's own listeners).
   *
   * The params are on `request.params` in `upgrade` and on `peer.params`. Precedence does
   * not depend on the order of registration: a literal route wins; patterns compare
   * segment by segment and the first segment that differs decides — a literal before a
   * `:param` before a `*`; `*` alone comes last. So `/rooms/lobby` beats `/rooms/:id`,
   * which beats `/rooms/*`.
   *
   * Throws `HL_ERR_ROUTE_EXISTS` for a path already served, or a pattern of the same
   * shape (`/rooms/:id` and `/rooms/:name`), and `HL_ERR_INVALID_ARGUMENT` for a malformed
   * pattern (not starting with "/", `*` not last or not a whole segment, an empty or
   * repeated `:` name) or a handler that is not an object.
   */
  route<D>(path: string, handler: Handler<D>): this {
    if (typeof handler !== 'object' || handler === null) throw invalidArgument('handler must be an object');
    this.routes.add(path, handler);
    return this;
  }

  /**
   * Plugs in a transport that serves this server's routes besides WebSocket (the HTTP
   * transports: `enableHttpTransports`). It sees the plain HTTP requests of every route
   * and every upgrade before the server does, and takes part in the graceful shutdown:
   * the contract is `ServerTransport`.
   */
  plug(transport: ServerTransport): this {
    this.plugged.push(transport);
    return this;
  }

  /** @internal The extension negotiation (permessage-deflate). */
  setExtensionNegotiator(negotiator: ExtensionNegotiator): void {
    this.extensionNegotiator = negotiator;
  }

  /** @internal The route serving `pathname` (the catch-all included). */
  findRoute(pathname: string): Route | null {
    return this.routes.match(pathname)?.route ?? null;
  }

  /** @internal The route registered with exactly this path or pattern. */
  registeredRoute(path: string): Route | null {
    return this.routes.get(path);
  }

  /** WebSocket peers currently open. */
  get connections(): number {
    return this.peerCount;
  }

  /**
   * Every open peer, on every route and transport: WebSocket peers, then the HTTP
   * sessions (those moved onto a WebSocket included). A live view over what the server
   * already holds, in the order peers joined: each iteration sees the peers open at that
   * moment, and closing peers while iterating is safe (a peer that is closing is skipped).
   *
   *   for (const peer of server.peers) peer.send('restarting soon');
   */
  get peers(): Iterable<Peer> {
    return { [Symbol.iterator]: () => this.openPeers() };
  }

  private *openPeers(): Generator<Peer> {
    for (const member of this.sweep) {
      const peer = peerOf(member);
      if (peer !== null && peer.readyState === ReadyState.OPEN) yield peer;
    }
    for (const transport of this.plugged) if (transport.peers !== undefined) yield* transport.peers();
  }

  /**
   * How many peers, on every transport, are subscribed to `topic` in this process.
   * `topic` is checked as `publish` checks it.
   */
  subscriberCount(topic: string): number {
    checkTopic(topic);
    return this.topics.subscriberCount(topic);
  }

  /** The HTTP server `listen(port)` made (it answers what is not a plain WebSocket handshake). */
  get httpServer(): http.Server | null {
    return this.ownServer;
  }

  /** The TLS server `listen({ tls })` made: an `Http2SecureServer` (HTTP/2 and HTTP/1.1), or an `https.Server`. */
  get tlsServer(): Http2SecureServer | HttpsServer | null {
    return this.secureServer;
  }

  // ---- Attaching and listening -----------------------------------------------------------

  /**
   * Shares an existing server's port: upgrades on a route become WebSocket peers, and
   * requests on a route go to the HTTP transports before the application's own
   * `request` listeners (attach after adding them, or call `handleRequest` yourself).
   */
  attach(server: AnyHttpServer): this {
    const own = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    (server as http.Server).on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (this.handleRequest(request, response)) return;
      for (const listener of own) listener.call(server, request, response);
      if (own.length === 0) notFound(request, response);
    });
    (server as http.Server).on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      const handled = this.handleUpgrade(request, socket, head);
      // Another library may own other paths on the same server.
      if (!handled && server.listenerCount('upgrade') === 1) {
        refuseConnection(socket, new HandshakeError('HL_ERR_NOT_FOUND', 404, 'no WebSocket route here'));
      }
    });
    if (isHttp2Server(server)) this.attachHttp2(server);
    this.attached.push(server);
    // Other nodes can route this node's HTTP sessions here from now on (`advertise`).
    if (this.options.advertise !== null) this.topics.nodes.advertise(this.options.advertise);
    return this;
  }

  /**
   * An HTTP/2 server: its requests come through the compatibility API (the 'request'
   * listener above, SSE and the pollings multiplexed on one connection), its HTTP/1.1
   * upgrades through 'upgrade' (`allowHTTP1`), and WebSockets over its streams as extended
   * CONNECTs (RFC 8441), which node:http2 hands to 'connect'.
   */
  private attachHttp2(server: Http2SecureServer | Http2Server): void {
    // RFC 8441 §3: the server says it understands `:protocol`; a client may not send one before.
    if (this.options.webSocketOverHttp2) server.updateSettings({ enableConnectProtocol: true });
    this.http2Sessions.watch(server);
    server.on('connect', (request: Http2ServerRequest) => {
      const handled = this.handleStream(request.stream, request.headers);
      // Another listener may serve other CONNECTs (a proxy, another protocol).
      if (!handled && server.listenerCount('connect') === 1) refuseUnclaimedConnect(request.stream, request.headers);
    });
  }

  /**
   * Listens on its own port. With `listen({ port, host, tls })` the port speaks TLS:
   * HTTP/2 and HTTP/1.1 by ALPN, every transport on both (`ListenOptions`). Requests
   * outside the routes go to `fallback` (404 by default). The request head must arrive within `handshakeTimeout` (408 otherwise).
   *
   * The listener reads the first bytes of each connection itself: a plain WebSocket
   * handshake (nearly all of them) is answered at once, without an HTTP server's parser,
   * request and response objects; anything else is handed, bytes and all, to an
   * `http.Server` (`httpServer`) that answers it as usual, upgrades included.
   */
  async listen(options: ListenOptions): Promise<AddressInfo>;
  async listen(port: number, host?: string, fallback?: (request: IncomingMessage, response: ServerResponse) => void): Promise<AddressInfo>;
  async listen(
    portOrOptions: number | ListenOptions,
    host?: string,
    fallback?: (request: IncomingMessage, response: ServerResponse) => void,
  ): Promise<AddressInfo> {
    if (this.ownServer !== null || this.secureServer !== null) throw new HotlineError('HL_ERR_INVALID_STATE', 'already listening');
    if (typeof portOrOptions === 'object' && portOrOptions !== null) {
      const options = resolveListenOptions(portOrOptions);
      checkListenArguments(options.port, options.host, options.fallback);
      return options.tls !== null ? this.listenSecure(options) : this.listenPlain(options.port, options.host, options.fallback);
    }
    checkListenArguments(portOrOptions, host, fallback);
    return this.listenPlain(portOrOptions, host, fallback);
  }

  /** `listen` without TLS: its own listener reads each connection's first bytes (see above). */
  private async listenPlain(port: number, host: string | undefined, fallback: ((request: IncomingMessage, response: ServerResponse) => void) | undefined): Promise<AddressInfo> {
    const server = http.createServer(
      {
        headersTimeout: this.options.handshakeTimeout,
        requestTimeout: Math.max(this.options.handshakeTimeout, 300_000),
        connectionsCheckingInterval: Math.min(this.options.handshakeTimeout, 1000),
      },
      fallback ?? notFound,
    );
    this.ownServer = server;
    this.attach(server);
    // The socket options of an http.Server's own listener, so that a connection handed
    // over behaves as if it had been accepted there.
    const listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.listener = listener;
    // Out of file descriptors, libuv accepts and closes every new connection, speaking
    // clients and silent ones alike, until descriptors free up. The listener stops short
    // of the limit instead: past it Node drops the new connection itself ('drop'), and the
    // server closes the oldest connections that have not sent a byte yet, so that clients
    // that speak get through again.
    const fdLimit = fileDescriptorLimit();
    if (fdLimit !== null) {
      listener.maxConnections = connectionsWithin(fdLimit);
      listener.on('drop', () => this.shedSilentConnections());
    }
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        // A failed accept after this concerns one connection: it must not end the process.
        listener.on('error', ignoreAcceptError);
        resolve();
      });
    });
    // The HTTP server never listens itself; 'listening' is what starts its tracking of
    // connections (the head and request timeouts, closeIdleConnections).
    server.emit('listening');
    return listener.address() as AddressInfo;
  }

  /** `listen({ tls })`: node's TLS server reads every connection (ALPN picks h2 or http/1.1). */
  private async listenSecure(options: ResolvedListenOptions): Promise<AddressInfo> {
    const server = createSecureListener(options, this.options);
    this.secureServer = server;
    (server as HttpsServer).on('request', options.fallback ?? notFound);
    this.attach(server);
    const fdLimit = fileDescriptorLimit();
    if (fdLimit !== null) server.maxConnections = connectionsWithin(fdLimit);
    // HTTP/2 connections that go quiet (no stream, no ping) are closed as idle peers are.
    if (this.options.idleTimeout > 0 && isHttp2Server(server)) server.setTimeout(this.options.idleTimeout);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        server.on('error', ignoreAcceptError);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** A connection to `listen`'s port: wait for its first bytes, within the handshake timeout. */
  private accept(socket: Socket): void {
    const waiting = new PendingHandshake(new Http1Opening(socket), Date.now() + this.options.handshakeTimeout, this, true);
    this.sweep.add(waiting);
    socket.on('error', onHandshakeSocketError);
    socket.once('data', (chunk: Buffer) => this.firstBytes(waiting, chunk));
  }

  /**
   * The listener is full. The connections that have not sent a byte of their request yet
   * are the cheapest to lose and the likeliest to be an attack holding descriptors: the
   * older half of them is closed.
   */
  private shedSilentConnections(): void {
    const silent: PendingHandshake[] = [];
    for (const member of this.sweep) if (member instanceof PendingHandshake && member.awaitingHead) silent.push(member);
    for (const waiting of silent.slice(0, Math.ceil(silent.length / 2))) {
      this.sweep.delete(waiting);
      waiting.opening.socket.destroy();
    }
  }

  private firstBytes(waiting: PendingHandshake, chunk: Buffer): void {
    const socket = waiting.opening.connection!;
    this.sweep.delete(waiting);
    socket.off('error', onHandshakeSocketError);
    if (waiting.expired || socket.destroyed) return;
    const end = findEndOfHead(chunk);
    const head = end === -1 ? null : parseRequestHead(chunk, end);
    if (head === null || !isWebSocketUpgrade(head)) {
      // Not a plain handshake whole in one read: the HTTP server reads it from the start.
      socket.pause();
      socket.unshift(chunk);
      this.ownServer!.emit('connection', socket);
      socket.resume();
      return;
    }
    // As an HTTP server leaves a socket for 'upgrade' listeners: not flowing until the
    // connection listens, so bytes that follow (while an async hook runs) wait in it.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    if (!this.open(head, waiting.opening, chunk.subarray(end + 4))) {
      waiting.opening.refuse(new HandshakeError('HL_ERR_NOT_FOUND', 404, 'no WebSocket route here'));
    }
  }

  // ---- HTTP requests -----------------------------------------------------------------------

  /**
   * Answers a plain HTTP request aimed at a route: the HTTP transports when they are
   * enabled, else 426 (the route speaks WebSocket only). Returns false for other paths.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const target = originForm(request.url ?? '/');
    if (target === null) return false;
    // Routing, the transports and the application all see the origin-form (RFC 9112 §3.2.2).
    request.url = target;
    const match = this.routes.match(pathOf(target));
    if (match === null) return false;
    const route = match.route;
    if (request.httpVersionMajor >= 2 && !isHttp2Request(request)) {
      // An "HTTP/2.0" request line on an HTTP/1.1 connection (RFC 9110 §15.6.6).
      respondPlain(response, 505, 'This server speaks HTTP/1.x on this connection.\n');
      return true;
    }
    for (let i = 0; i < this.plugged.length; i++) if (this.plugged[i]!.handleRequest(request, response, route, match.params)) return true;
    // The catch-all route serves the application's other requests too; only what is
    // plainly a WebSocket handshake missing its Upgrade gets the 426 there.
    if (route === this.routes.catchAll && !looksLikeHandshake(request.headers)) return false;
    // RFC 9110 §15.5.22: 426 names the protocol to upgrade to.
    response.writeHead(426, {
      'Content-Type': 'text/plain; charset=utf-8',
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Version': '13',
    });
    response.end('This route speaks WebSocket: send an Upgrade request.\n');
    return true;
  }

  // ---- The opening handshake -----------------------------------------------------------------

  /**
   * Runs the server side of the opening handshake (RFC 6455 §4.2) on an `upgrade` event.
   * Returns false when no route matches (the socket is left alone).
   */
  handleUpgrade(request: UpgradeHead, socket: Socket, head: Buffer): boolean {
    return this.open(request, new Http1Opening(socket), head);
  }

  /**
   * Runs the server side of a WebSocket opened over HTTP/2 (RFC 8441): an extended CONNECT
   * (`:method` CONNECT, `:protocol` websocket) on `stream`, with its request `headers`.
   * `attach` calls it for an `http2` server; call it yourself from a 'stream' listener of
   * your own. Returns false when the stream is not one (another CONNECT, another
   * protocol) or no route matches: the stream is left alone.
   */
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
    if (headers[':method'] !== 'CONNECT' || !isWebSocketProtocol(headers[':protocol'])) return false;
    // RFC 8441 §4: the target is in `:path`, the host in `:authority`; the hook and the
    // transports read them where an HTTP/1.1 request has them.
    const head: UpgradeHead = {
      method: 'CONNECT',
      url: (headers[':path'] as string | undefined) ?? '/',
      httpVersion: '2.0',
      headers: headers.host === undefined && headers[':authority'] !== undefined ? { ...headers, host: headers[':authority'] as string } : headers,
    };
    return this.open(head, new Http2Opening(stream), EMPTY);
  }

  /** The opening handshake, over either HTTP: route, checks, the hook, the answer. */
  private open(request: UpgradeHead, opening: Opening, head: Buffer): boolean {
    const url = originForm(request.url ?? '/');
    if (url === null) {
      // §4.1: the handshake names a resource; asterisk- and authority-form name none.
      opening.refuse(new HandshakeError('HL_ERR_HANDSHAKE_TARGET', 400, 'the request-target names no resource'));
      return true;
    }
    if (url !== request.url) request = withUrl(request, url);
    for (let i = 0; i < this.plugged.length; i++) if (this.plugged[i]!.claimUpgrade(request, opening, head)) return true;
    const path = pathOf(url);
    const match = this.routes.match(path);
    if (match === null) return false;
    const route = match.route;
    opening.guard();
    if (this.closing) {
      opening.refuse(new HandshakeError('HL_ERR_SERVER_CLOSING', 503, 'server is shutting down'));
      return true;
    }
    if (this.drainer !== null) {
      opening.refuse(drainingRefusal());
      return true;
    }
    if (this.peerCount + this.handshakes.size >= this.options.maxConnections) {
      opening.refuse(new HandshakeError('HL_ERR_TOO_MANY_CONNECTIONS', 503, 'too many connections', { 'Retry-After': '1' }));
      return true;
    }
    let validated: ValidatedRequest;
    try {
      validated = opening.validate(request);
    } catch (error) {
      opening.refuse(error as HandshakeError);
      return true;
    }
    // The universal client's envelope and positions (envelope=1, since): a bad `since` is 400.
    let envelope: RecoveryGate | null;
    try {
      envelope = envelopeOfTarget(url);
    } catch (error) {
      opening.refuse(new HandshakeError('HL_ERR_BAD_SINCE', 400, (error as Error).message));
      return true;
    }
    const upgradeRequest = new WebSocketUpgradeRequest(url, path, match.params, request.headers, opening, validated.protocols);
    let accepted: UpgradeAccept<unknown> | void | Promise<UpgradeAccept<unknown> | void>;
    try {
      accepted = route.handler.upgrade?.(upgradeRequest);
    } catch (error) {
      this.finishHandshake(opening, null, match, validated, head, error, undefined, envelope);
      return true;
    }
    if (isThenable(accepted)) {
      // Only a hook that answers later needs a deadline (and a place in the count of
      // handshakes in progress); a synchronous answer completes the handshake right here.
      const pending = new PendingHandshake(opening, Date.now() + this.options.handshakeTimeout, this);
      this.handshakes.add(pending);
      this.sweep.add(pending);
      Promise.resolve(accepted).then(
        (value) => this.finishHandshake(opening, pending, match, validated, head, undefined, value, envelope),
        (error: unknown) => this.finishHandshake(opening, pending, match, validated, head, error ?? new Error('rejected'), undefined, envelope),
      );
    } else {
      this.finishHandshake(opening, null, match, validated, head, undefined, accepted, envelope);
    }
    return true;
  }

  private finishHandshake(
    opening: Opening,
    pending: PendingHandshake | null,
    match: RouteMatch,
    validated: ValidatedRequest,
    head: Buffer,
    error: unknown,
    accepted: UpgradeAccept<unknown> | void,
    envelope: RecoveryGate | null,
  ): void {
    if (pending !== null) {
      this.handshakes.delete(pending);
      this.sweep.delete(pending);
      if (pending.expired) return;
    }
    if (opening.gone) return;
    if (error !== undefined) {
      opening.refuse(upgradeError(error));
      return;
    }
    const protocol = accepted?.protocol ?? '';
    if (protocol !== '' && !validated.protocols.includes(protocol)) {
      // §4.2.2: the server selects one of the protocols the client offered, or none.
      opening.refuse(new HandshakeError('HL_ERR_HANDSHAKE_PROTOCOL', 500, ''));
      return;
    }
    let negotiated;
    try {
      negotiated = this.extensionNegotiator(validated.extensions, this);
      opening.accept({
        key: validated.key,
        protocol,
        extensions: negotiated.response,
        ...(accepted?.headers ? { headers: accepted.headers } : {}),
      });
    } catch (failure) {
      opening.refuse(failure instanceof HandshakeError ? failure : new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, ''));
      return;
    }
    opening.unguard();
    const peer = new WebSocketPeer(opening.socket, this.sweep, this.options, this.peerContext(match.route), {
      params: match.params,
      protocol,
      extensions: negotiated.response,
      codec: negotiated.codec,
      data: accepted?.data,
      envelope,
    });
    this.peerCount++;
    try {
      peer.start(head);
    } catch (failure) {
      // An `open` hook that throws fails that peer alone (1011), never the server.
      peer.failInternally(failure);
    }
  }

  private peerContext<D>(route: Route<D>): PeerContext<D> {
    let context = this.peerContexts.get(route);
    if (context === undefined) {
      context = new PeerContext(route.handler, this);
      this.peerContexts.set(route, context);
    }
    return context;
  }

  /** @internal */
  handshakeExpired(pending: PendingHandshake): void {
    this.handshakes.delete(pending);
    this.sweep.delete(pending);
    const what = pending.awaitingHead ? 'request head' : 'handshake';
    pending.opening.refuse(new HandshakeError('HL_ERR_HANDSHAKE_TIMEOUT', 408, `${what} timed out`));
  }

  // ---- Pub/sub ---------------------------------------------------------------------------

  /**
   * Sends `data` to every subscriber of `topic`, on every transport. A WebSocket frame is
   * built once and shared. Returns the number of subscribers that took the message (sent
   * or buffered). A subscriber over its limits (`maxBufferedAmount`, `maxQueue`, the
   * server's `maxOutboundBytes`) does not get it, as `peer.send` would have answered
   * `dropped`: it is not counted, it is passed to `onDropped` when given, and its `drain`
   * hook runs once it has caught up.
   */
  publish(topic: string, data: Payload, isBinary?: boolean, options?: PublishOptions): number {
    checkTopic(topic);
    if (options !== undefined || (isBinary !== undefined && typeof isBinary !== 'boolean')) checkPublishArguments(isBinary, options);
    // One object for every subscriber on every transport: WebSocket peers build its frame
    // (and compressions) on it once; HTTP sessions queue a reference to its bytes.
    const onDropped = options?.onDropped as ((subscriber: Subscriber<Publication>) => void) | undefined;
    const except = options?.except as Subscriber<Publication> | undefined;
    return this.topics.publish(topic, toBuffer(data), isBinary ?? typeof data !== 'string', { except, onDropped });
  }

  /**
   * A failure the engine met in the background (a broker link lost, a publish not
   * acknowledged). Nothing a peer did: it is reported, and the engine recovers on its own.
   */
  /** @internal Also the path of a recovery the engine could not answer (`server/recovery.ts`). */
  engineError(error: Error): void {
    process.emitWarning(error.message, { type: 'HotlineEngineWarning', code: (error as { code?: string }).code });
  }

  /** @internal PeerHost */
  peerClosed(): void {
    this.peerCount--;
    if (this.peerCount === 0) {
      this.whenEmpty?.();
      this.drainer?.check();
    }
  }

  // ---- Shutdown ----------------------------------------------------------------------------

  /**
   * Graceful shutdown: refuses new handshakes (503), sends 1001 to every peer and ends
   * every HTTP session at the same time, waits for the closing handshakes up to `timeout`,
   * then drops whoever is left. It resolves once every peer's `close` hook has run, within
   * `timeout` plus `CLOSE_MARGIN` (the time dropped sockets take to report their close).
   * Calling it again returns the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closed !== null) return this.closed;
    // Misuse is refused before anything is shut down: a code or reason no Close frame may
    // carry (RFC 6455 §7.4, §5.5) would otherwise fail at the first peer, leaving the
    // server refusing connections with its peers still open.
    let resolved;
    try {
      resolved = resolveCloseOptions(options, this.options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.closed = this.shutdown(resolved.timeout, resolved.code, resolved.reason);
    // A drain in progress ends here: whoever it had not closed yet gets this close's code.
    this.drainer?.stop();
    return this.closed;
  }

  // ---- Draining (drain.ts) -----------------------------------------------------------------

  /**
   * Graceful drain, for deploys: the node leaves its pool without a reconnection storm
   * and without losing what its peers were sent. At once, the listener stops listening
   * (the load balancer sends new connections elsewhere) and a handshake that still
   * arrives — WebSocket or new HTTP session — is refused 503 `HL_ERR_DRAINING`; the
   * requests of open HTTP sessions are still served. Every peer is closed with 1012
   * (Service Restart) at a moment drawn uniformly at random within `window` ms (default
   * 10,000), so that clients come back on other nodes in a trickle; each closing
   * handshake has the usual `closeTimeout`, and whoever is left at `window + timeout`
   * (`timeout` defaults to `closeTimeout`) is dropped. Resolves once every peer's `close`
   * hook has run and the server is closed exactly as by `close()` (engine, listener).
   *
   * `close()` during a drain finishes it at once (those left get close's code, 1001 by
   * default); `drain()` again returns the same promise, and after `close()` (without a
   * drain) returns close's. Bad options reject with `HL_ERR_INVALID_ARGUMENT`, and the server goes on
   * serving.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    if (this.drained !== null) return this.drained;
    if (this.closed !== null) return this.closed;
    let resolved;
    try {
      resolved = resolveDrainOptions(options, this.options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.drained = this.runDrain(resolved);
    return this.drained;
  }

  /**
   * Stops `listen`'s listener, once (a drain stops it early); resolves when every socket it
   * accepted has closed — its 'close' event, which a second `close()` would never see.
   */
  private closeListener(): Promise<void> | null {
    const listener = this.listener;
    if (listener === null) return null;
    this.listenerClosed ??= new Promise<void>((resolve) => listener.close(() => resolve()));
    return this.listenerClosed;
  }

  private async runDrain({ window, timeout }: ResolvedDrainOptions): Promise<void> {
    const transportsEmpty = Promise.all(this.plugged.map((transport) => transport.drain?.()));
    const drainer = new Drain({
      peers: [...this.peers],
      window,
      timeout,
      websocketsLeft: () => this.peerCount,
      transportsEmpty,
    });
    this.drainer = drainer;
    for (const pending of [...this.handshakes]) {
      this.handshakes.delete(pending);
      this.sweep.delete(pending);
      pending.opening.refuse(drainingRefusal());
    }
    // The listener goes at once, so a load balancer's health check sees the node leave —
    // unless HTTP sessions are open: a poller needs new connections until its turn comes,
    // so the listener stays (every new handshake refused 503) until they have all ended.
    if (this.plugged.length === 0) void this.closeListener();
    else void transportsEmpty.then(() => this.closeListener());
    drainer.start();
    await drainer.over;
    // Nobody left, or the deadline: whoever is still there is dropped.
    await this.close({ timeout: 0 });
  }

  private async shutdown(timeout: number, code: number, reason: string): Promise<void> {
    const deadline = Date.now() + timeout;
    // From now on every new handshake, WebSocket or HTTP session, is refused with 503.
    this.closing = true;
    for (const pending of [...this.handshakes]) {
      this.handshakes.delete(pending);
      this.sweep.delete(pending);
      pending.opening.refuse(new HandshakeError('HL_ERR_SERVER_CLOSING', 503, 'server is shutting down'));
    }
    // Pollers fetch their close packet and acknowledge it with requests of their own: while
    // HTTP sessions end, the server still takes connections (and answers new sessions
    // 503). Without them it stops listening at once.
    const sessions = this.plugged.length > 0;
    let stoppedListening = sessions ? null : this.stopListening();
    // The transports end their sessions while the WebSocket peers close: neither waits
    // for the other, and both share the one timeout.
    const steps = Promise.all(this.plugged.map((transport) => transport.shutdown({ timeout, code, reason }).catch(() => undefined)));
    for (const member of this.sweep) peerOf(member)?.close(code, reason);
    if (this.peerCount > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.whenEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.whenEmpty = null;
      for (const member of this.sweep) peerOf(member)?.terminate();
      // A destroyed socket reports 'close' on a later tick: wait for it, so that every
      // peer's `close` hook has run when this resolves.
      if (this.peerCount > 0) await new Promise<void>((resolve) => (this.whenEmpty = resolve));
      this.whenEmpty = null;
    }
    // A step keeps its own deadline (the same timeout); this bounds one that would not.
    await withDeadline(steps, deadline + CLOSE_MARGIN - Date.now());
    // Every subscriber has left: the engine lets go of what it holds (a broker's
    // connection), within the same margin as the listener.
    const engineClosed = this.topics.close().catch(() => undefined);
    stoppedListening ??= this.stopListening();
    this.ownServer?.closeAllConnections();
    (this.secureServer as HttpsServer | null)?.closeAllConnections?.();
    this.http2Sessions.destroyAll();
    await withDeadline(Promise.all([stoppedListening, engineClosed]), CLOSE_MARGIN);
  }

  /**
   * Stops accepting connections and closes those that have not sent their request yet.
   * A net.Server's close callback waits for every socket it ever accepted, including
   * those that became peers or are being refused: the caller awaits it only within the
   * margin, since each of those sockets ends on a deadline of its own.
   */
  private stopListening(): Promise<unknown> {
    const own = this.ownServer ?? this.secureServer;
    const stopped = Promise.all([
      own === null ? null : new Promise<void>((resolve) => own.close(() => resolve())),
      this.closeListener(),
    ]);
    (own as http.Server | null)?.closeIdleConnections?.();
    // An HTTP/2 connection is asked to go away: its open streams finish, none starts.
    this.http2Sessions.goAway();
    for (const member of this.sweep) {
      if (member instanceof PendingHandshake && member.awaitingHead) {
        this.sweep.delete(member);
        member.opening.socket.destroy();
      }
    }
    return stopped;
  }
}

/**
 * How long `close()` may take beyond its `timeout`: dropped sockets report their close on
 * a later turn of the event loop, and the listener's own close waits for refused sockets
 * already on their way out.
 */
export const CLOSE_MARGIN = 100;

function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * What the `upgrade` hook sees. The query string is parsed, and the address asked of the
 * socket, only when they are read: Node caches the address on the socket, where it would
 * stay for the life of the connection (88 B: an object and a string) if read for every
 * handshake.
 */
class WebSocketUpgradeRequest implements UpgradeRequest {
  readonly transport = Transport.WEBSOCKET;
  private parsedQuery: URLSearchParams | null = null;
  constructor(
    readonly url: string,
    readonly path: string,
    readonly params: RouteParams,
    readonly headers: IncomingHttpHeaders,
    private readonly opening: Opening,
    readonly protocols: readonly string[],
  ) {}

  /** '1.1' for an upgrade, '2.0' for an extended CONNECT on an HTTP/2 stream (RFC 8441). */
  get httpVersion(): '1.1' | '2.0' {
    return this.opening.httpVersion;
  }

  get remoteAddress(): string {
    return this.opening.socket.remoteAddress ?? '';
  }

  get query(): URLSearchParams {
    if (this.parsedQuery === null) {
      const at = this.url.indexOf('?');
      this.parsedQuery = new URLSearchParams(at === -1 ? '' : this.url.slice(at + 1));
    }
    return this.parsedQuery;
  }
}

/**
 * A handshake in progress, with its deadline: a connection to `listen`'s port that has
 * not sent its first bytes yet (`awaitingHead`), or one whose async upgrade hook has not
 * settled.
 */
class PendingHandshake implements Sweepable {
  expired = false;
  constructor(
    readonly opening: Opening,
    private readonly deadline: number,
    private readonly server: Server,
    readonly awaitingHead = false,
  ) {}

  sweep(now: number): void {
    if (now < this.deadline) return;
    this.expired = true;
    this.server.handshakeExpired(this);
  }
}

const PUBLISH_KEYS: readonly (keyof PublishOptions)[] = ['except', 'onDropped'];

function isEngine(value: unknown): value is PubSubEngine<Publication> {
  const engine = value as Partial<PubSubEngine<Publication>> | null;
  return typeof engine === 'object' && engine !== null && typeof engine.bind === 'function' && typeof engine.publish === 'function' && typeof engine.subscribe === 'function';
}

/** `publish`'s optional arguments, checked when given (a peer's own publish passes `except` only). */
function checkPublishArguments(isBinary: unknown, options: PublishOptions | undefined): void {
  if (isBinary !== undefined && typeof isBinary !== 'boolean') throw invalidArgument(`isBinary must be a boolean or undefined (got ${shown(isBinary)})`);
  if (options === undefined) return;
  checkOptions(options, PUBLISH_KEYS, 'the publish options');
  const { except, onDropped } = options;
  if (except !== undefined && (typeof except !== 'object' || except === null)) throw invalidArgument(`except must be a peer (got ${shown(except)})`);
  if (onDropped !== undefined && typeof onDropped !== 'function') throw invalidArgument(`onDropped must be a function (got ${shown(onDropped)})`);
}

/**
 * `listen`'s arguments, checked before anything is bound: Node would throw its own
 * RangeError (or treat a bad host as a pipe name).
 */
function checkListenArguments(port: unknown, host: unknown, fallback: unknown): void {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    const shown = typeof port === 'number' ? String(port) : typeof port;
    throw invalidArgument(`listen: port must be an integer from 0 to 65535, 0 for any free port (got ${shown})`);
  }
  if (host !== undefined && (typeof host !== 'string' || host === '')) throw invalidArgument('listen: host must be a non-empty string (an address or a name)');
  if (fallback !== undefined && typeof fallback !== 'function') throw invalidArgument('listen: fallback must be a request listener function');
}

/** A promise, or anything that behaves like one (an async hook from another realm, say). */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** The head with its request-target in origin-form (RFC 9112 §3.2.2). */
function withUrl(request: UpgradeHead, url: string): UpgradeHead {
  if (typeof (request as IncomingMessage).on === 'function') {
    // Node's request object: its url is the application's to read, and writable.
    (request as IncomingMessage).url = url;
    return request;
  }
  return { method: request.method, url, httpVersion: request.httpVersion, headers: request.headers };
}

/** A request that arrived over HTTP/2 (through node:http2's compatibility API). */
function isHttp2Request(request: IncomingMessage): boolean {
  return (request as { stream?: unknown }).stream !== undefined;
}

/** A request that means to open a WebSocket: it carries the handshake's own fields. */
function looksLikeHandshake(headers: IncomingHttpHeaders): boolean {
  return (
    headers['sec-websocket-key'] !== undefined ||
    headers['sec-websocket-version'] !== undefined ||
    (typeof headers.upgrade === 'string' && /(^|,)\s*websocket\s*(,|$)/i.test(headers.upgrade))
  );
}

function respondPlain(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  response.end(body);
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function upgradeError(error: unknown): HandshakeError {
  if (error instanceof UpgradeRejection) {
    return new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', error.status, error.message, error.headers);
  }
  if (error instanceof HandshakeError) return error;
  // Anything else is a bug in the hook: answer 500 without details.
  return new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, '');
}

function drainingRefusal(): HandshakeError {
  // The code in the text: a refused WebSocket handshake has no body format of its own.
  return new HandshakeError('HL_ERR_DRAINING', 503, 'HL_ERR_DRAINING: server is draining for a restart, connect again');
}

function ignoreAcceptError(): void {}

function onHandshakeSocketError(this: Socket): void {
  this.destroy();
}

/** `:protocol` names WebSocket: RFC 8441 §4 registers "websocket", compared as a token (case-insensitively). */
function isWebSocketProtocol(value: unknown): boolean {
  return typeof value === 'string' && value.toLowerCase() === 'websocket';
}

/**
 * A CONNECT on an HTTP/2 stream that no listener took: without `:protocol` it asks for a
 * tunnel, which this server is not (405); with another protocol, one it does not speak
 * (501); a WebSocket on a path with no route, 404. The connection's other streams go on.
 */
function refuseUnclaimedConnect(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const protocol = headers[':protocol'];
  let error: HandshakeError;
  if (protocol === undefined) error = new HandshakeError('HL_ERR_CONNECT_PROTOCOL', 405, 'CONNECT needs a :protocol here (RFC 8441)', { allow: 'GET, POST' });
  else if (!isWebSocketProtocol(protocol)) error = new HandshakeError('HL_ERR_CONNECT_PROTOCOL', 501, `the :protocol ${JSON.stringify(String(protocol))} is not spoken here`);
  else error = new HandshakeError('HL_ERR_NOT_FOUND', 404, 'no WebSocket route here');
  new Http2Opening(stream).refuse(error);
}

const EMPTY = Buffer.alloc(0);

function notFound(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end('Not found\n');
}
