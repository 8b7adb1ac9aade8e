import { createHash, randomBytes } from 'node:crypto';
import { HandshakeError } from '../errors.js';
import { isToken } from './extensions.js';

/**
 * The opening handshake (RFC 6455 §4), both sides, on already-parsed HTTP messages. The
 * HTTP/1.1 syntax itself is parsed by Node's llhttp, or for a plain request head by
 * `request-head.ts`; this module applies the WebSocket rules to the result and builds
 * the answers.
 */

/** §1.3: the GUID concatenated to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** §4.2.2: the only version this implementation (and every browser) speaks. */
export const WEBSOCKET_VERSION = '13';

export type HeaderValue = string | string[] | undefined;
export type Headers = Readonly<Record<string, HeaderValue>>;

export interface ClientHandshakeRequest {
  method: string;
  httpVersion: string;
  /** Lower-case names, as Node's `IncomingMessage.headers`. */
  headers: Headers;
}

export interface ValidatedRequest {
  key: string;
  /** Sec-WebSocket-Protocol values offered, in the client's order of preference. */
  protocols: string[];
  /** The raw Sec-WebSocket-Extensions offer ('' when absent), for extension negotiation. */
  extensions: string;
}

/** §4.2.2 step 5.4: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** §4.1: a nonce of 16 random bytes, base64-encoded. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** §4.1: base64 of exactly 16 bytes is 22 characters and `==` (trailing bits are not policed, as in browsers). */
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

// Subprotocol names (§4.1) and header names are RFC 7230 §3.2.6 tokens.
export { isToken };

function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Splits a comma-separated header (repeated headers count as one list, RFC 7230 §3.2.2). */
export function headerList(value: HeaderValue): string[] {
  const joined = single(value);
  if (joined === undefined) return [];
  const items: string[] = [];
  for (const part of joined.split(',')) {
    const item = part.trim();
    if (item !== '') items.push(item);
  }
  return items;
}

function hasToken(value: HeaderValue, token: string): boolean {
  return headerList(value).some((item) => item.toLowerCase() === token);
}

/**
 * §4.2.1: validates a client's opening handshake. Throws a `HandshakeError` whose status
 * is the HTTP answer: 405 (with `Allow`) for another method, 426 (with
 * `Sec-WebSocket-Version: 13`) for another version, 400 for everything else malformed.
 */
export function validateRequest(request: ClientHandshakeRequest): ValidatedRequest {
  const { headers } = request;
  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (request.method !== 'GET') {
    throw new HandshakeError('HL_ERR_HANDSHAKE_METHOD', 405, 'the opening handshake must be a GET request', { Allow: 'GET' });
  }
  const [major = 0, minor = 0] = request.httpVersion.split('.').map(Number);
  // An HTTP/1.1 connection carries HTTP/1.x only: a request line naming HTTP/2 or later is
  // not a request this server can speak (RFC 9110 §15.6.6). HTTP/2 has a handshake of its
  // own (RFC 8441), which never comes through here.
  if (major >= 2) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_HTTP_VERSION', 505, `HTTP/${request.httpVersion} is not spoken on an HTTP/1.1 connection`);
  }
  if (major < 1 || (major === 1 && minor < 1)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_HTTP_VERSION', 400, 'the opening handshake requires HTTP/1.1');
  }
  // Item 2: a Host header.
  if (!single(headers.host)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_HOST', 400, 'missing Host header');
  }
  // Items 3 and 4: Upgrade contains "websocket", Connection contains "Upgrade",
  // both compared case-insensitively (§4.2.1: "ASCII case-insensitive").
  if (!hasToken(headers.upgrade, 'websocket')) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_UPGRADE', 400, 'Upgrade header must include "websocket"');
  }
  if (!hasToken(headers.connection, 'upgrade')) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_CONNECTION', 400, 'Connection header must include "Upgrade"');
  }
  // Item 6: the version must be 13; §4.2.2 asks for a 426 naming the versions understood.
  const version = single(headers['sec-websocket-version'])?.trim();
  if (version !== WEBSOCKET_VERSION) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_VERSION', 426, 'unsupported Sec-WebSocket-Version (expected 13)', {
      'Sec-WebSocket-Version': WEBSOCKET_VERSION,
    });
  }
  // Item 5: a key that is base64 of 16 bytes. A repeated header arrives joined with ", " and fails here.
  const key = single(headers['sec-websocket-key'])?.trim();
  if (key === undefined || !KEY_PATTERN.test(key)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_KEY', 400, 'missing or invalid Sec-WebSocket-Key');
  }
  const protocols = headerList(headers['sec-websocket-protocol']);
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new HandshakeError('HL_ERR_HANDSHAKE_PROTOCOL', 400, 'invalid Sec-WebSocket-Protocol');
    }
  }
  return { key, protocols, extensions: single(headers['sec-websocket-extensions']) ?? '' };
}

/**
 * RFC 8441 §4–5: validates a WebSocket opened over HTTP/2, an extended CONNECT whose
 * `:protocol` is "websocket" (the caller has checked the method and the protocol). HTTP/2
 * has no Upgrade nor Connection fields (RFC 9113 §8.2.2) and the handshake no key: the
 * stream itself is the proof that both ends speak WebSocket (RFC 8441 §5: "Sec-WebSocket-Key
 * and Sec-WebSocket-Accept are not used"). What is left of §4.2.1 applies as over HTTP/1.1:
 * version 13, and subprotocols that are tokens. The answer to a wrong version is 400 with
 * `Sec-WebSocket-Version` rather than 426: a 426 must carry an Upgrade field (RFC 9110
 * §15.5.22), which HTTP/2 forbids.
 */
export function validateExtendedConnect(headers: Headers): ValidatedRequest {
  // RFC 8441 §4: ":scheme" and ":path" are sent, as for any request with a target;
  // nghttp2 refuses an extended CONNECT without them before it reaches us.
  if (!single(headers[':authority']) && !single(headers.host)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_HOST', 400, 'missing :authority');
  }
  const version = single(headers['sec-websocket-version'])?.trim();
  if (version !== WEBSOCKET_VERSION) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_VERSION', 400, 'unsupported sec-websocket-version (expected 13)', {
      'sec-websocket-version': WEBSOCKET_VERSION,
    });
  }
  const protocols = headerList(headers['sec-websocket-protocol']);
  for (const protocol of protocols) {
    if (!isToken(protocol)) throw new HandshakeError('HL_ERR_HANDSHAKE_PROTOCOL', 400, 'invalid Sec-WebSocket-Protocol');
  }
  return { key: '', protocols, extensions: single(headers['sec-websocket-extensions']) ?? '' };
}

export interface AcceptOptions {
  key: string;
  /** The selected subprotocol, or '' (§4.2.2: omitted when none is selected). */
  protocol: string;
  /** The negotiated Sec-WebSocket-Extensions value, or ''. */
  extensions: string;
  headers?: Readonly<Record<string, string>>;
}

/** §4.2.2 step 5: the 101 response, as bytes to write to the socket. */
export function acceptResponse(options: AcceptOptions): string {
  let response =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(options.key)}\r\n`;
  if (options.protocol !== '') response += `Sec-WebSocket-Protocol: ${options.protocol}\r\n`;
  if (options.extensions !== '') response += `Sec-WebSocket-Extensions: ${options.extensions}\r\n`;
  if (options.headers) response += formatHeaders(options.headers);
  return response + '\r\n';
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Content Too Large',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** A refusal written straight to an upgrade socket (there is no ServerResponse there). */
export function rejectResponse(status: number, message: string, headers: Readonly<Record<string, string>> = {}): string {
  const body = message === '' ? '' : message + '\n';
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    formatHeaders(headers) +
    '\r\n' +
    body
  );
}

/** Header values must not smuggle a line break into the response (response splitting). */
function formatHeaders(headers: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (!isToken(name) || /[\r\n]/.test(value)) {
      throw new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, `invalid response header ${JSON.stringify(name)}`);
    }
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

export interface ClientRequestOptions {
  key: string;
  protocols: readonly string[];
  /** The Sec-WebSocket-Extensions offer, or ''. */
  extensions: string;
}

/** §4.1: the headers of the client's opening handshake (Host is set by the HTTP client). */
export function requestHeaders(options: ClientRequestOptions): Record<string, string> {
  const headers: Record<string, string> = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': options.key,
    'Sec-WebSocket-Version': WEBSOCKET_VERSION,
  };
  if (options.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = options.protocols.join(', ');
  if (options.extensions !== '') headers['Sec-WebSocket-Extensions'] = options.extensions;
  return headers;
}

export interface ServerHandshakeResponse {
  status: number;
  headers: Headers;
}

export interface ValidatedResponse {
  protocol: string;
  /** The raw Sec-WebSocket-Extensions answer ('' when absent), checked against the offer by the caller. */
  extensions: string;
}

/**
 * §4.1, the client's checks of the server's answer: any failure means the client
 * "MUST _Fail the WebSocket Connection_".
 */
export function validateResponse(
  response: ServerHandshakeResponse,
  expected: { key: string; protocols: readonly string[] },
): ValidatedResponse {
  const { headers } = response;
  if (response.status !== 101) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_STATUS', response.status, `unexpected server response ${response.status}`);
  }
  if (!hasToken(headers.upgrade, 'websocket')) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_UPGRADE', 101, 'response Upgrade header is not "websocket"');
  }
  if (!hasToken(headers.connection, 'upgrade')) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_CONNECTION', 101, 'response Connection header lacks "Upgrade"');
  }
  if (single(headers['sec-websocket-accept'])?.trim() !== acceptKey(expected.key)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_ACCEPT', 101, 'invalid Sec-WebSocket-Accept');
  }
  // §4.1 item 6: a subprotocol the client did not offer fails the connection.
  const selected = headerList(headers['sec-websocket-protocol']);
  if (selected.length > 1 || (selected.length === 1 && !expected.protocols.includes(selected[0]!))) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_PROTOCOL', 101, 'server selected a subprotocol that was not offered');
  }
  return { protocol: selected[0] ?? '', extensions: single(headers['sec-websocket-extensions']) ?? '' };
}
