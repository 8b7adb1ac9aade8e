/**
 * The server-side API shared by every transport: one handler object, one peer shape.
 * An application written against these types runs unchanged over WebSocket, SSE,
 * long polling, short polling and fixed-interval polling.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ReadyState } from './protocol/ready-state.js';

/** Transport names, as used by `peer.transport`, the browser client and `/stats`. */
export const Transport = {
  WEBSOCKET: 'websocket',
  SSE: 'sse',
  LONG_POLLING: 'long-polling',
  POLLING: 'polling',
  INTERVAL_POLLING: 'interval-polling',
} as const;
export type TransportName = (typeof Transport)[keyof typeof Transport];
export const TRANSPORTS: readonly TransportName[] = Object.values(Transport);

export { ReadyState } from './protocol/ready-state.js';

/**
 * What `peer.send()` did with a message:
 * - `sent`: handed to the socket (or an HTTP response) at once;
 * - `buffered`: queued behind earlier data; `drain` fires when the queue empties;
 * - `dropped`: refused because the peer's buffer is over its limit or it is closing.
 */
export type SendResult = 'sent' | 'buffered' | 'dropped';

/** Anything `send` and `publish` accept. Strings go as text, everything else as binary
 *  unless `isBinary` says otherwise. */
export type Payload = string | Buffer | ArrayBuffer | ArrayBufferView;

export interface SendOptions {
  /** permessage-deflate: compress this message (default: when it is over the threshold). */
  compress?: boolean;
}

/**
 * The values of a route pattern's parameters (`/rooms/:id` → `{ id }`, `/static/*` →
 * `{ '*' }`), percent-decoded. Frozen, without a prototype; the same empty object for
 * every peer of a literal route.
 */
export type RouteParams = Readonly<Record<string, string>>;

/** The request an `upgrade` hook sees, for WebSocket and HTTP transports alike. */
export interface UpgradeRequest {
  readonly url: string;
  readonly path: string;
  /** The parameters of the route pattern that matched `path` (see `server.route`). */
  readonly params: RouteParams;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly transport: TransportName;
  /** Subprotocols offered by a WebSocket client (empty for HTTP transports). */
  readonly protocols: readonly string[];
  /**
   * The HTTP the request came over: '1.1', or '2.0' — a WebSocket on an HTTP/2 stream
   * (RFC 8441), or an HTTP session's request multiplexed on an HTTP/2 connection.
   */
  readonly httpVersion?: string;
}

/** What an `upgrade` hook may return to accept a peer. */
export interface UpgradeAccept<D> {
  /** Per-peer application data, available as `peer.data`. */
  data?: D;
  /** The subprotocol to select; must be one the client offered. */
  protocol?: string;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/**
 * Thrown (or returned as a rejected promise) from `upgrade` to refuse a peer with an
 * HTTP status. Anything else thrown from `upgrade` answers 500 with no details.
 */
export class UpgradeRejection extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, message = '', headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export interface Peer<D = unknown> {
  /** Unique within the process; for HTTP transports, not the session id. */
  readonly id: string;
  readonly transport: TransportName;
  /** Per-peer application data set by `upgrade`. */
  data: D;
  readonly remoteAddress: string;
  /** The parameters of the route pattern this peer connected on (see `server.route`). */
  readonly params: RouteParams;
  /** Selected subprotocol ('' when none). */
  readonly protocol: string;
  /** Negotiated extensions header value ('' when none). */
  readonly extensions: string;
  readonly readyState: ReadyState;
  /** Bytes (or, for HTTP transports, encoded bytes) queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;

  send(data: Payload, isBinary?: boolean, options?: SendOptions): SendResult;
  /** Starts the closing handshake (WebSocket) or ends the session (HTTP transports). */
  close(code?: number, reason?: string): void;
  /** Drops the connection at once, with no closing handshake. */
  terminate(): void;
  /**
   * Sends a Ping (RFC 6455 §5.5.2) with up to 125 bytes of `data` (§5.5; more throws
   * `HL_ERR_INVALID_ARGUMENT`); the peer's Pong reaches the `pong` hook. Returns false,
   * sending nothing, when the peer is not OPEN. HTTP-transport peers have no ping frame:
   * they return false and send nothing (their liveness is the session timeouts); a session
   * moved onto a WebSocket does not ping either.
   */
  ping(data?: Payload): boolean;

  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  isSubscribed(topic: string): boolean;
  readonly topics: readonly string[];
  /** Publishes to every subscriber of `topic` except this peer. */
  publish(topic: string, data: Payload, isBinary?: boolean): void;
}

export interface Handler<D = unknown> {
  /**
   * Called before the handshake completes: check origin or credentials, choose a
   * subprotocol, attach data. Throw an `UpgradeRejection` to refuse with a status.
   */
  upgrade?(request: UpgradeRequest): UpgradeAccept<D> | void | Promise<UpgradeAccept<D> | void>;
  /**
   * The hooks below may be async (`HookResult`). A hook that throws, or whose promise
   * rejects, fails that peer alone with 1011 (details withheld from it), and the error is
   * passed to `error`; a `close` hook that rejects is reported to `error` and changes
   * nothing else. What a hook returns is otherwise ignored, so `(peer) => peer.send(x)`
   * is a hook too.
   */
  open?(peer: Peer<D>): HookResult;
  /** `data` belongs to the application: Hotline does not reuse its memory. */
  message?(peer: Peer<D>, data: Buffer, isBinary: boolean): HookResult;
  /** Called once per peer, after it is closed. */
  close?(peer: Peer<D>, code: number, reason: string): HookResult;
  /**
   * A Ping arrived from a WebSocket peer (HTTP transports, and sessions moved onto a
   * WebSocket, have no hook-visible control frames); its Pong has already been queued
   * (RFC 6455 §5.5.2). `data` is the Ping's payload, at most 125 bytes.
   */
  ping?(peer: Peer<D>, data: Buffer): HookResult;
  /**
   * A Pong arrived from a WebSocket peer: the answer to `peer.ping`, to the server's heartbeat
   * (`sendPings`), or an unsolicited one (§5.5.3).
   */
  pong?(peer: Peer<D>, data: Buffer): HookResult;
  /** The peer's buffered data has been flushed after a `send` returned `buffered`. */
  drain?(peer: Peer<D>): HookResult;
  /** A peer failed (protocol error, socket error, a limit, a hook that threw); `close` follows. */
  error?(peer: Peer<D>, error: Error): HookResult;
}

/**
 * What a hook may return: nothing, a promise (awaited for its rejection only), or any
 * value, which is ignored. `unknown` rather than `void | Promise<void>`, so that a
 * concise arrow returning a value still type-checks as a hook.
 */
export type HookResult = unknown;
