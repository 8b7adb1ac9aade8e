import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { RequestOptions } from 'node:https';
import { HandshakeError, HotlineError, invalidArgument } from '../errors.js';
import { WEBSOCKET_VERSION, type ValidatedResponse, headerList } from '../protocol/handshake.js';
import { CONNECTION_SPECIFIC_FIELDS } from '../http2/fields.js';
import { acquireSession, http2ErrorName, type SessionLease, waitForSettings } from './http2-sessions.js';

/**
 * The client's opening handshake over HTTP/2 (RFC 8441): on a shared HTTP/2 connection
 * whose server has enabled the extended CONNECT, one stream is opened with
 * `:method CONNECT` and `:protocol websocket`; a 2xx answer makes that stream the
 * WebSocket's byte stream, in both directions, as the TCP connection is after a 101.
 */

export interface ExtendedConnectRequest {
  readonly url: URL;
  readonly protocols: readonly string[];
  /** The Sec-WebSocket-Extensions offer ('' for none), as over HTTP/1.1. */
  readonly extensions: string;
  /** The application's headers, checked by `checkHttp2Headers`. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly tls: RequestOptions | undefined;
  /** The application's own session, to open the stream on; else the shared one. */
  readonly session: ClientHttp2Session | undefined;
}

/** What the handshake tells the WebSocket: one of the two, once. */
export interface ExtendedConnectTarget {
  /** A 2xx came and the answer is valid: `stream` carries the WebSocket from now on. */
  http2Opened(stream: ClientHttp2Stream, validated: ValidatedResponse, status: number): void;
  /** The handshake failed (a HandshakeError, or HL_ERR_SOCKET with the cause). */
  http2Failed(error: Error): void;
}

/**
 * Header fields HTTP/2 forbids (RFC 9113 §8.2.2: connection-specific fields are
 * malformed) or that RFC 8441 §5 drops (the key, whose proof the stream itself gives).
 */
const FORBIDDEN_OVER_HTTP2: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC_FIELDS, 'te', 'sec-websocket-key']);

/**
 * The application's headers, checked for HTTP/2 when the WebSocket is made: a field HTTP/2
 * forbids, or a pseudo-header (the handshake sets them all), throws `HL_ERR_INVALID_ARGUMENT`
 * rather than making the server reset the stream as malformed.
 */
export function checkHttp2Headers(headers: Readonly<Record<string, string>> | undefined): void {
  for (const name of Object.keys(headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower.startsWith(':')) throw invalidArgument(`header ${name}: the pseudo-headers of a WebSocket over HTTP/2 are set by the client (RFC 8441 §4)`);
    if (FORBIDDEN_OVER_HTTP2.has(lower)) {
      throw invalidArgument(`header ${name} is not allowed on a WebSocket over HTTP/2 (RFC 9113 §8.2.2, RFC 8441 §5)`);
    }
  }
}

/**
 * RFC 8441 §4 and §5: the extended CONNECT's header block. The pseudo-headers name the
 * target as an https (or http) URI (§5: `:scheme` is that of the target, `:path` its path
 * and query); the WebSocket fields are those of RFC 6455 §4.1 but Upgrade, Connection and
 * Sec-WebSocket-Key. Field names are lower case (RFC 9113 §8.2.1); a Host given by the
 * application becomes `:authority` (§8.3.1: a client uses `:authority`, not Host).
 */
export function extendedConnectHeaders(request: Pick<ExtendedConnectRequest, 'url' | 'protocols' | 'extensions' | 'headers'>): OutgoingHttpHeaders {
  const { url, protocols, extensions } = request;
  const headers: OutgoingHttpHeaders = {};
  let authority = url.host;
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'host') authority = value;
    else headers[lower] = value;
  }
  headers[':method'] = 'CONNECT';
  headers[':protocol'] = 'websocket';
  headers[':scheme'] = url.protocol === 'wss:' ? 'https' : 'http';
  headers[':path'] = url.pathname + url.search;
  headers[':authority'] = authority;
  headers['sec-websocket-version'] = WEBSOCKET_VERSION;
  if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ');
  if (extensions !== '') headers['sec-websocket-extensions'] = extensions;
  return headers;
}

/**
 * RFC 8441 §5 with RFC 6455 §4.1's checks that still apply: a 2xx status (RFC 9113
 * §8.5: any 2xx answer to CONNECT establishes the tunnel), and a subprotocol the client
 * offered. There is no Sec-WebSocket-Accept to check over HTTP/2. Another status fails as
 * a non-101 does over HTTP/1.1: `HL_ERR_HANDSHAKE_STATUS` with the status.
 */
export function validateExtendedConnectResponse(headers: IncomingHttpHeaders, protocols: readonly string[]): ValidatedResponse {
  const status = Number(headers[':status']);
  if (!(status >= 200 && status <= 299)) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_STATUS', status, `unexpected server response ${status}`);
  }
  const selected = headerList(headers['sec-websocket-protocol']);
  if (selected.length > 1 || (selected.length === 1 && !protocols.includes(selected[0]!))) {
    throw new HandshakeError('HL_ERR_HANDSHAKE_PROTOCOL', status, 'server selected a subprotocol that was not offered');
  }
  const extensions = headers['sec-websocket-extensions'];
  return { protocol: selected[0] ?? '', extensions: (Array.isArray(extensions) ? extensions.join(', ') : extensions) ?? '' };
}

/**
 * One extended CONNECT in progress: a lease on the session, the wait for its SETTINGS,
 * then the stream until it is answered. `destroy()` gives everything back (the handshake
 * timed out, or the WebSocket was closed while connecting).
 */
export class ExtendedConnect {
  private lease: SessionLease | null = null;
  private stream: ClientHttp2Stream | null = null;
  private cancelWait: (() => void) | null = null;
  private settled = false;

  constructor(
    private readonly request: ExtendedConnectRequest,
    private readonly target: ExtendedConnectTarget,
  ) {
    const { url, tls, session } = request;
    try {
      this.lease = acquireSession(`${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}`, tls, session);
    } catch (error) {
      this.fail(socketError(error));
      return;
    }
    this.cancelWait = waitForSettings(this.lease.session, (error) => {
      this.cancelWait = null;
      if (error !== null) this.fail(noHttp2(error, url) ?? socketError(error));
      else this.sendConnect();
    });
  }

  /** Abandons the handshake: the stream, if any, is reset (CANCEL); nothing is reported. */
  destroy(): void {
    if (this.settled) return;
    this.settled = true;
    this.cancelWait?.();
    this.cancelWait = null;
    if (this.stream !== null) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    else this.releaseLease();
  }

  private sendConnect(): void {
    if (this.settled) return;
    const session = this.lease!.session;
    // RFC 8441 §3: without SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 the client MUST NOT send
    // `:protocol`; this server cannot carry a WebSocket over HTTP/2. No fallback to
    // HTTP/1.1: the application asked for HTTP/2, and is told the server lacks it.
    if (session.remoteSettings.enableConnectProtocol !== true) {
      this.fail(
        new HandshakeError(
          'HL_ERR_HANDSHAKE_UPGRADE',
          0,
          'the server does not accept WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3)',
        ),
      );
      return;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(extendedConnectHeaders(this.request), { endStream: false });
    } catch (error) {
      this.fail(socketError(error));
      return;
    }
    this.stream = stream;
    // The lease lasts as long as the stream: through the handshake and the WebSocket.
    stream.once('close', () => this.releaseLease());
    stream.on('response', this.onResponse);
    stream.on('error', this.onStreamError);
    stream.on('close', this.onStreamClose);
  }

  private readonly onResponse = (headers: IncomingHttpHeaders): void => {
    const stream = this.stream!;
    this.detach(stream);
    if (this.settled) return;
    let validated: ValidatedResponse;
    try {
      validated = validateExtendedConnectResponse(headers, this.request.protocols);
    } catch (error) {
      // A refusal's body is of no use here; the stream is reset rather than read.
      this.fail(error as Error);
      return;
    }
    this.settled = true;
    this.target.http2Opened(stream, validated, Number(headers[':status']));
  };

  private readonly onStreamError = (error: Error): void => {
    const code = this.stream?.rstCode;
    this.fail(code !== undefined && code !== 0 ? new Http2StreamReset(code, 'before answering', error) : socketError(error));
  };

  private readonly onStreamClose = (): void => {
    this.fail(new Http2StreamReset(this.stream?.rstCode ?? 0, 'before answering', null));
  };

  private detach(stream: ClientHttp2Stream): void {
    stream.off('response', this.onResponse);
    stream.off('error', this.onStreamError);
    stream.off('close', this.onStreamClose);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    const stream = this.stream;
    if (stream !== null) {
      this.detach(stream);
      // Swallows the errors of a stream nobody reads any more.
      stream.on('error', ignore);
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    } else {
      this.releaseLease();
    }
    this.target.http2Failed(error);
  }

  private releaseLease(): void {
    this.lease?.release();
  }
}

/**
 * The WebSocket's stream was reset (RST_STREAM, RFC 9113 §6.4) or its connection went
 * (GOAWAY, a failure): the close is 1006 (RFC 6455 §7.1.5, no Close frame came) and this
 * error, `HL_ERR_SOCKET` as a lost TCP connection's, names the HTTP/2 error code
 * (`http2ErrorCode`, RFC 9113 §7: 0x8 CANCEL, 0x2 INTERNAL_ERROR, ...).
 */
export class Http2StreamReset extends HotlineError {
  readonly http2ErrorCode: number;

  constructor(http2ErrorCode: number, when: string, cause: Error | null) {
    super('HL_ERR_SOCKET', `the WebSocket's HTTP/2 stream was reset ${when} (${http2ErrorName(http2ErrorCode)})`, cause === null ? undefined : { cause });
    this.http2ErrorCode = http2ErrorCode;
  }
}

/**
 * A connection that failed before the server's SETTINGS because the server does not speak
 * HTTP/2 at all: over TLS it refused ALPN "h2" (RFC 7301 §3.2, the no_application_protocol
 * alert); in cleartext, what came back was no HTTP/2 (an HTTP/1.1 server answering the
 * connection preface, RFC 9113 §3.4). The same answer as a server without the extended
 * CONNECT: this server cannot carry a WebSocket over HTTP/2.
 */
function noHttp2(error: Error, url: URL): HandshakeError | null {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return new HandshakeError('HL_ERR_HANDSHAKE_UPGRADE', 0, 'the server does not speak HTTP/2 (it refused ALPN "h2", RFC 9113 §3.2)');
  }
  if (code === 'ERR_HTTP2_ERROR' && url.protocol === 'ws:') {
    return new HandshakeError('HL_ERR_HANDSHAKE_UPGRADE', 0, 'the server does not speak cleartext HTTP/2 (it did not answer the connection preface, RFC 9113 §3.3)');
  }
  return null;
}

function socketError(error: unknown): HotlineError {
  if (error instanceof HotlineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HotlineError('HL_ERR_SOCKET', message, { cause: error });
}

function ignore(): void {}
