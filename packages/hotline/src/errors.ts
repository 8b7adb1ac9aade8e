/**
 * Hotline's error tree. Every error carries a stable `code` (`HL_ERR_*`): tests,
 * logs and applications match on the code, never on the message.
 *
 *   HotlineError
 *   ├── HandshakeError   an opening handshake was refused; carries the HTTP status
 *   ├── ProtocolError    a peer broke RFC 6455 / RFC 7692; carries the close code
 *   ├── TransportError   an HTTP transport request was refused; carries the HTTP status
 *   └── (plain)          API misuse, limits, timeouts
 */

/** RFC 6455 §7.4.1 close codes used when Hotline fails a connection. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
} as const;

export type ErrorCode =
  // Frames (RFC 6455 §5)
  | 'HL_ERR_INVALID_OPCODE'
  | 'HL_ERR_RESERVED_BITS'
  | 'HL_ERR_UNMASKED_FRAME'
  | 'HL_ERR_MASKED_FRAME'
  | 'HL_ERR_CONTROL_FRAGMENTED'
  | 'HL_ERR_CONTROL_TOO_LONG'
  | 'HL_ERR_UNEXPECTED_CONTINUATION'
  | 'HL_ERR_EXPECTED_CONTINUATION'
  | 'HL_ERR_INVALID_LENGTH'
  | 'HL_ERR_INVALID_UTF8'
  | 'HL_ERR_INVALID_CLOSE_CODE'
  | 'HL_ERR_INVALID_CLOSE_PAYLOAD'
  | 'HL_ERR_MESSAGE_TOO_BIG'
  | 'HL_ERR_TOO_MANY_FRAGMENTS'
  | 'HL_ERR_INVALID_COMPRESSED_DATA'
  /** The peer asks for answers (pongs, the close echo) it does not read: 1008. */
  | 'HL_ERR_UNREAD_ANSWERS'
  // Opening handshake (RFC 6455 §4)
  | 'HL_ERR_HANDSHAKE_METHOD'
  | 'HL_ERR_HANDSHAKE_HTTP_VERSION'
  | 'HL_ERR_HANDSHAKE_TARGET'
  | 'HL_ERR_HANDSHAKE_HOST'
  | 'HL_ERR_HANDSHAKE_UPGRADE'
  | 'HL_ERR_HANDSHAKE_CONNECTION'
  | 'HL_ERR_HANDSHAKE_KEY'
  | 'HL_ERR_HANDSHAKE_VERSION'
  | 'HL_ERR_HANDSHAKE_PROTOCOL'
  | 'HL_ERR_HANDSHAKE_EXTENSIONS'
  | 'HL_ERR_HANDSHAKE_STATUS'
  | 'HL_ERR_HANDSHAKE_ACCEPT'
  | 'HL_ERR_HANDSHAKE_REJECTED'
  | 'HL_ERR_HANDSHAKE_TIMEOUT'
  | 'HL_ERR_HEADERS_TOO_LARGE'
  | 'HL_ERR_NOT_FOUND'
  | 'HL_ERR_TOO_MANY_CONNECTIONS'
  // HTTP/2 (RFC 8441, RFC 9113)
  /** A CONNECT over HTTP/2 whose `:protocol` is missing or is not "websocket": 501 (405 without one). */
  | 'HL_ERR_CONNECT_PROTOCOL'
  // Connection life
  | 'HL_ERR_CLOSE_TIMEOUT'
  | 'HL_ERR_IDLE_TIMEOUT'
  | 'HL_ERR_SOCKET'
  | 'HL_ERR_BUFFER_FULL'
  /** The server-wide budget for partial messages (`maxPartialBytes`) is exhausted: 1013. */
  | 'HL_ERR_PARTIAL_BYTES'
  /** Something unexpected failed inside one connection (a bug, not the peer): 1011. */
  | 'HL_ERR_INTERNAL'
  | 'HL_ERR_SERVER_CLOSING'
  // HTTP transports (sessions, polling, SSE)
  | 'HL_ERR_UNKNOWN_SESSION'
  | 'HL_ERR_SESSION_EXPIRED'
  | 'HL_ERR_BODY_TOO_LARGE'
  | 'HL_ERR_MALFORMED_BODY'
  | 'HL_ERR_TOO_MANY_SESSIONS'
  | 'HL_ERR_CONCURRENT_POLL'
  | 'HL_ERR_UNKNOWN_TRANSPORT'
  | 'HL_ERR_SESSION_CLOSED'
  | 'HL_ERR_TRANSPORT_MISMATCH'
  | 'HL_ERR_MALFORMED_QUERY'
  | 'HL_ERR_METHOD_NOT_ALLOWED'
  | 'HL_ERR_ORIGIN_NOT_ALLOWED'
  | 'HL_ERR_SESSION_EVICTED'
  | 'HL_ERR_TOO_MANY_UNCONFIRMED'
  | 'HL_ERR_TOO_MANY_SESSIONS_FOR_KEY'
  | 'HL_ERR_TOO_MANY_PACKETS'
  | 'HL_ERR_BODY_TIMEOUT'
  // API misuse
  | 'HL_ERR_INVALID_ARGUMENT'
  | 'HL_ERR_INVALID_STATE'
  /** `server.route` was given a path (or a pattern of the same shape) it already serves. */
  | 'HL_ERR_ROUTE_EXISTS'
  // Pub/sub engines, brokers, nodes
  | 'HL_ERR_BROKER'
  | 'HL_ERR_INVALID_ENVELOPE'
  /** A publish could not be acknowledged by the engine's broker (down, cut off, or timed out). */
  | 'HL_ERR_ENGINE_UNAVAILABLE'
  /** A connection request's `since` (the client's positions) is malformed or too long: 400. */
  | 'HL_ERR_BAD_SINCE'
  /** A session's owning node could not be reached to forward its request: 502. */
  | 'HL_ERR_NODE_UNREACHABLE'
  /** The server is draining for a restart: new connections go elsewhere (503), peers get 1012. */
  | 'HL_ERR_DRAINING';

export class HotlineError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** An opening handshake was refused. `status` is the HTTP status a server answers with. */
export class HandshakeError extends HotlineError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** A peer broke the framing rules. `closeCode` is what the connection is failed with. */
export class ProtocolError extends HotlineError {
  readonly closeCode: number;

  constructor(code: ErrorCode, closeCode: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.closeCode = closeCode;
  }
}

/** An HTTP transport request was refused; `status` is the HTTP answer. */
export class TransportError extends HotlineError {
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

export function invalidArgument(message: string): HotlineError {
  return new HotlineError('HL_ERR_INVALID_ARGUMENT', message);
}

export function invalidState(message: string): HotlineError {
  return new HotlineError('HL_ERR_INVALID_STATE', message);
}

/**
 * Misuse of an options object: `options` must be a plain object (or undefined, left to
 * the caller) whose every key is one of `known`. A typo (`idleTimout`) would otherwise
 * pass silently and leave the default in place: it throws `HL_ERR_INVALID_ARGUMENT`
 * naming the key, the object (`what`) and the closest known name.
 */
export function checkOptions(options: unknown, known: readonly string[], what: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument(`${what} must be an object (got ${shown(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    throw invalidArgument(`unknown option ${key} in ${what}${near === null ? '' : ` (did you mean ${near}?)`}; known: ${known.join(', ')}`);
  }
}

/** The known name within two edits of `key` (a typo), if any. */
function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const name of known) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A value as an error message shows it: strings quoted, objects by their kind. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  return typeof value === 'function' ? 'a function' : String(value);
}
