/**
 * The contract between a transport driver (one connection over one transport: I/O only,
 * around the session core) and its owner (the client facade, which keeps the readyState,
 * the fallback and the reconnection policy; or the benchmark's simulated client). A
 * driver reports through these callbacks and reads nothing else of its owner.
 */
import type { Handshake } from '../protocol/session/wire.js';
import type { ClientIo, ResponseLike } from './io.js';
import type { ResolvedClientOptions, TransportName } from './options.js';

/** A message to send, encoded once: its kind, its bytes, and the value as given (for a WebSocket). */
export interface Outgoing {
  readonly kind: 't' | 'b';
  readonly bytes: Uint8Array;
  readonly raw: string | ArrayBuffer | ArrayBufferView;
}

/** A transport's side of a connection. */
export interface Driver {
  /** The transport in use (`websocket` once a session has moved onto one). */
  readonly name: TransportName;
  /** The HTTP session id ('' over WebSocket). */
  readonly sid: string;
  /** The HTTP session's handshake (null over WebSocket, and until the session opens). */
  readonly handshake: Handshake | null;
  readonly bufferedAmount: number;
  start(): void;
  send(message: Outgoing): void;
  close(code: number, reason: string): void;
  /** Stops at once, silently. */
  stop(): void;
}

export interface DriverOwner {
  /** The route, as http(s). */
  readonly url: string;
  readonly options: ResolvedClientOptions;
  readonly io: ClientIo;
  /** Query parameters of a connection request (the WebSocket handshake, an HTTP session's handshake): the envelope and positions. */
  handshakeParams?(): Record<string, string>;
  /** The connection opened. */
  driverOpened(driver: Driver): void;
  /** A message, once and in order: a string for text, an ArrayBuffer for binary. */
  driverMessage(driver: Driver, data: string | ArrayBuffer): void;
  /** The transport could not open. */
  driverFailed(driver: Driver, error: Error): void;
  /** The connection ended: by a close exchanged, by the user, or lost. */
  driverClosed(driver: Driver, code: number, reason: string, wasClean: boolean, error?: Error): void;
  /** The session moved onto a WebSocket. */
  driverUpgraded(driver: Driver): void;
  /** A break on a live session: retrying after `delay` ms. */
  driverReconnecting(driver: Driver, attempt: number, delay: number): void;
  /** The session is back after a break. */
  driverResumed(driver: Driver): void;
  /** Something went wrong that does not end the connection (a message too large to send). */
  driverError(driver: Driver, error: Error): void;
}

/** An HTTP error answer: its status and the server's stable code. */
export class TransportFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message || `HTTP ${status}${code ? ` ${code}` : ''}`);
    this.status = status;
    this.code = code;
  }
  override get name(): string {
    return 'TransportFailure';
  }
}

const textEncoder = new TextEncoder();

/** Encodes a message for sending: strings as text, anything else as binary. */
export function outgoing(data: string | ArrayBuffer | ArrayBufferView): Outgoing {
  if (typeof data === 'string') return { kind: 't', bytes: textEncoder.encode(data), raw: data };
  if (data instanceof ArrayBuffer) return { kind: 'b', bytes: new Uint8Array(data), raw: data };
  if (ArrayBuffer.isView(data)) return { kind: 'b', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), raw: data };
  throw new TypeError('send: a string, an ArrayBuffer or an ArrayBufferView');
}

/** Builds a request URL: the route's path and query plus `transport`, `sid`, `ack`. */
export function transportUrl(base: string, params: Record<string, string | number>): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  return url.href;
}

/** The same, as ws(s): for a WebSocket. */
export function webSocketUrl(base: string, params: Record<string, string | number>): string {
  const url = new URL(transportUrl(base, params));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/** A non-2xx answer as a `TransportFailure`, with the server's stable code when it gave one. */
export async function failureOf(response: ResponseLike): Promise<TransportFailure> {
  let code = '';
  let message = '';
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not one of ours (a proxy's error page)
  }
  return new TransportFailure(response.status, code, message || `HTTP ${response.status}${code ? ` ${code}` : ''}`);
}
