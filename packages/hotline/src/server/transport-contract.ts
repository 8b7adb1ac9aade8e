import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { HandshakeError } from '../errors.js';
import type { AcceptOptions, ValidatedRequest } from '../protocol/handshake.js';
import type { StreamSocket } from '../websocket/stream-socket.js';
import type { Socket } from 'node:net';
import type { Handler, Peer, RouteParams } from '../types.js';

/**
 * The contract between a `Server` and the transports that serve its routes besides
 * WebSocket (the HTTP transports: SSE and the three pollings). A transport is plugged in
 * with `server.plug(transport)`; from then on the server hands it, in the order plugged:
 *
 * - every plain HTTP request aimed at a route (with the params of its pattern), before
 *   the server's own answer (426 on a WebSocket-only route): the transport takes it or
 *   leaves it;
 * - every upgrade request, before the server treats it as a new WebSocket peer: the
 *   transport may claim it (a session moving onto a WebSocket);
 * - the graceful shutdown, which runs the transports' steps while the server still
 *   listens (a poller needs a request of its own to fetch its close packet) and the
 *   WebSocket peers close, under the same deadline;
 * - the drain (`server.drain()`), where the server closes the transport's peers itself,
 *   one by one through `peers()` and `Peer.close`, and the transport refuses new ones.
 */
export interface ServerTransport {
  /** A plain HTTP request for `route`; returns false when it is not this transport's. */
  handleRequest(request: IncomingMessage, response: ServerResponse, route: Route, params: RouteParams): boolean;
  /**
   * An opening handshake (an HTTP/1.1 upgrade, or an extended CONNECT on an HTTP/2
   * stream: `opening.httpVersion`); returns true when the transport took it.
   */
  claimUpgrade(request: UpgradeHead, opening: Opening, head: Buffer): boolean;
  /**
   * Ends everything the transport serves with `code` and `reason`; resolves once it is
   * over, at the latest after `timeout` ms (when whatever is left is dropped).
   */
  shutdown(options: ShutdownOptions): Promise<void>;
  /** The transport's open peers, for `server.peers`: a live view, safe to close peers while iterating. */
  peers?(): Iterable<Peer>;
  /**
   * The server is draining: new peers are refused (503, `HL_ERR_DRAINING`) while the
   * open ones are still served until the server closes each of them. Resolves once the
   * transport has no peer left. A transport without it has no peers of its own.
   */
  drain?(): Promise<void>;
}

/** What a shutdown step is told: the server's resolved close options. */
export interface ShutdownOptions {
  readonly timeout: number;
  readonly code: number;
  readonly reason: string;
}

/** A path (or path pattern) served with one handler object, for every transport. */
export interface Route<D = unknown> {
  /** The path or pattern as registered (`/chat`, `/rooms/:id`, `/static/*`, `*`). */
  readonly path: string;
  readonly handler: Handler<D>;
}

/**
 * What the opening handshake reads of a request: Node's `IncomingMessage` when the request
 * came through an HTTP server, or the head Hotline read itself on its own listener.
 */
export interface UpgradeHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersion: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * Where an opening handshake arrived, and how it is answered: an HTTP/1.1 connection that
 * asks to upgrade (RFC 6455 §4), or an HTTP/2 stream opened by an extended CONNECT
 * (RFC 8441 §5). Routing, the `upgrade` hook and extension negotiation are the same for
 * both; only the request's checks, the answers and what carries the frames afterwards
 * differ, and they live here.
 */
export interface Opening {
  /** '1.1', or '2.0' for an HTTP/2 stream. */
  readonly httpVersion: '1.1' | '2.0';
  /** What carries the WebSocket once accepted: the TCP (or TLS) socket, or the HTTP/2 stream. */
  readonly socket: StreamSocket;
  /** The connection itself over HTTP/1.1 (a tunnel to another node takes its bytes); null over HTTP/2. */
  readonly connection: Socket | null;
  /** The client has gone, or the answer has been given. */
  readonly gone: boolean;
  /** The request's own checks (§4.2.1 over HTTP/1.1, RFC 8441 §5 over HTTP/2); throws a `HandshakeError`. */
  validate(head: UpgradeHead): ValidatedRequest;
  /** The success answer: 101 with Sec-WebSocket-Accept, or 200 on the stream. */
  accept(answer: AcceptOptions): void;
  /** Answers `error.status` with its message and headers, and lets the client go. */
  refuse(error: HandshakeError): void;
  /** While the handshake runs, a reset of the client's connection is quietly dropped. */
  guard(): void;
  /** The WebSocket takes over error handling. */
  unguard(): void;
}
