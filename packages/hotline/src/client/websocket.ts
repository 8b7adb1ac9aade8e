import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { CloseCode, HandshakeError, HotlineError } from '../errors.js';
import { type ValidatedResponse, isToken, generateKey, requestHeaders, validateResponse } from '../protocol/handshake.js';
import { Side } from '../protocol/side.js';
import { isApplicationCloseCode } from '../protocol/close-code.js';
import { ReadyState } from '../protocol/ready-state.js';
import type { MessageCodec } from '../websocket/codec.js';
import { WebSocketShell } from '../websocket/shell.js';
import type { ConnectionOwner } from '../websocket/owner.js';
import { Sweep, type Sweepable } from '../timers/sweep.js';
import { PerMessageDeflate } from '../websocket/permessage-deflate.js';
import { limiterFor } from '../websocket/zlib-limiter.js';
import { parseExtensions } from '../protocol/extensions.js';
import {
  type PerMessageDeflateOptions,
  acceptClientResponse,
  clientOffer,
  resolveDeflateOptions,
} from '../protocol/permessage-deflate.js';
import { CloseEvent, ErrorEvent } from './events.js';
import { type ResolvedClientOptions, type WebSocketOptions, resolveClientOptions } from './options.js';
import { toControlPayload } from '../websocket/payload.js';
import type { StreamSocket } from '../websocket/stream-socket.js';
import { streamSocketOf } from '../http2/stream-socket.js';
import { ExtendedConnect, Http2StreamReset } from './http2-connect.js';
import type { Payload } from '../types.js';

export type { WebSocketOptions } from './options.js';

/**
 * The WHATWG `WebSocket` (https://websockets.spec.whatwg.org/) for Node, over Hotline's
 * protocol core, plus Node-only options in a third constructor argument.
 */

export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

export interface ClientExtensionNegotiation {
  /** The Sec-WebSocket-Extensions offer to send ('' for none). */
  offer: string;
  /** Checks the server's answer; throws a HandshakeError when it is invalid or unoffered. */
  accept(response: string, maxPayload: number): MessageCodec | null;
}

/** The client side of permessage-deflate: the offer, and the check of the answer. */
function deflateNegotiation(options: PerMessageDeflateOptions | true): ClientExtensionNegotiation {
  const resolved = resolveDeflateOptions(options === true ? {} : options, Side.CLIENT);
  const limiter = limiterFor(options === true ? undefined : options.concurrency);
  return {
    offer: clientOffer(resolved),
    accept(response, maxPayload) {
      if (response === '') return null;
      const params = acceptClientResponse(parseExtensions(response), resolved);
      if (params === null) return null;
      return new PerMessageDeflate(params, Side.CLIENT, {
        maxPayload,
        level: resolved.level,
        memLevel: resolved.memLevel,
        threshold: resolved.threshold,
        limiter,
      });
    },
  };
}

/** One sweep for every client connection in the process. */
const clientSweep = new Sweep(250);

/** Thrown as the WHATWG API requires (DOMException names are part of the contract). */
function domException(message: string, name: 'SyntaxError' | 'InvalidStateError' | 'InvalidAccessError'): DOMException {
  return new DOMException(message, name);
}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

export class WebSocket extends EventTarget {
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;
  readonly CONNECTING = ReadyState.CONNECTING;
  readonly OPEN = ReadyState.OPEN;
  readonly CLOSING = ReadyState.CLOSING;
  readonly CLOSED = ReadyState.CLOSED;

  readonly url: string;
  private state: ReadyState = ReadyState.CONNECTING;
  private protocolValue = '';
  private extensionsValue = '';
  private binaryTypeValue: BinaryType = 'blob';
  private connection: WebSocketShell<WebSocket> | null = null;
  /** The opening handshake in progress: an HTTP/1.1 request, or an extended CONNECT. */
  private request: ClientRequest | ExtendedConnect | null = null;
  /** Over HTTP/2 (RFC 8441): the stream that carries the connection. */
  private stream: ClientHttp2Stream | null = null;
  /** `terminate()` reset the stream: its RST_STREAM is ours, not the server's. */
  private terminated = false;
  /** The resolved options, kept from the constructor until the handshake's answer. */
  private resolved: ResolvedClientOptions | null = null;
  private negotiation: ClientExtensionNegotiation | undefined = undefined;
  private pending: PendingClientHandshake | null = null;
  /** Bytes sent after closing started: the spec still counts them in bufferedAmount. */
  private discarded = 0;
  /** Blobs must be read before they are sent; later sends wait behind them. */
  private blobQueue: Array<Blob | Buffer | string> | null = null;
  private blobQueueBytes = 0;
  private failed = false;
  private closedReported = false;

  private handlers: Record<'open' | 'message' | 'error' | 'close', Handler<any>> = {
    open: null,
    message: null,
    error: null,
    close: null,
  };

  constructor(url: string | URL, protocols: string | string[] = [], options: WebSocketOptions = {}) {
    super();
    const parsed = parseUrl(url);
    this.url = parsed.href;
    const offered = typeof protocols === 'string' ? [protocols] : [...protocols];
    // Spec: duplicates or non-token values are a SyntaxError.
    if (new Set(offered).size !== offered.length || offered.some((p) => !isToken(p))) {
      throw domException('invalid or duplicate subprotocol', 'SyntaxError');
    }
    this.connect(parsed, offered, options);
  }

  // ---- Attributes --------------------------------------------------------------------------

  get readyState(): ReadyState {
    return this.state;
  }

  get protocol(): string {
    return this.protocolValue;
  }

  get extensions(): string {
    return this.extensionsValue;
  }

  get binaryType(): BinaryType {
    return this.binaryTypeValue;
  }

  set binaryType(value: BinaryType) {
    // Spec: other values are ignored.
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.binaryTypeValue = value;
  }

  get bufferedAmount(): number {
    return (this.connection?.bufferedAmount ?? 0) + this.discarded + this.blobQueueBytes;
  }

  get onopen(): Handler<Event> {
    return this.handlers.open;
  }
  set onopen(handler: Handler<Event>) {
    this.setHandler('open', handler);
  }
  get onmessage(): Handler<MessageEvent> {
    return this.handlers.message;
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.setHandler('message', handler);
  }
  get onerror(): Handler<Event> {
    return this.handlers.error;
  }
  set onerror(handler: Handler<Event>) {
    this.setHandler('error', handler);
  }
  get onclose(): Handler<CloseEvent> {
    return this.handlers.close;
  }
  set onclose(handler: Handler<CloseEvent>) {
    this.setHandler('close', handler);
  }

  private setHandler(type: 'open' | 'message' | 'error' | 'close', handler: Handler<any>): void {
    const previous = this.handlers[type];
    if (previous) this.removeEventListener(type, previous as (event: Event) => void);
    this.handlers[type] = typeof handler === 'function' ? handler : null;
    if (typeof handler === 'function') this.addEventListener(type, handler as (event: Event) => void);
  }

  // ---- Methods -----------------------------------------------------------------------------

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.state === ReadyState.CONNECTING) throw domException('still connecting', 'InvalidStateError');
    let item: Buffer | Blob | string;
    let size: number;
    if (typeof data === 'string') {
      item = data;
      size = Buffer.byteLength(data);
    } else if (typeof Blob !== 'undefined' && data instanceof Blob) {
      item = data;
      size = data.size;
    } else if (ArrayBuffer.isView(data)) {
      item = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      size = data.byteLength;
    } else if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
      item = Buffer.from(data as ArrayBuffer);
      size = data.byteLength;
    } else {
      item = String(data);
      size = Buffer.byteLength(item);
    }
    // Spec: after closing started, data is not sent but bufferedAmount still grows.
    if (this.state !== ReadyState.OPEN || this.connection === null) {
      this.discarded += size;
      return;
    }
    if (this.blobQueue !== null || item instanceof Blob) {
      this.queueBehindBlob(item, size);
      return;
    }
    this.transmit(item);
  }

  private transmit(item: Buffer | string): void {
    const connection = this.connection!;
    if (typeof item === 'string') connection.send(Buffer.from(item, 'utf8'), false);
    else connection.send(item, true);
  }

  private queueBehindBlob(item: Buffer | Blob | string, size: number): void {
    const starting = this.blobQueue === null;
    if (starting) this.blobQueue = [];
    this.blobQueue!.push(item);
    this.blobQueueBytes += size;
    if (starting) void this.drainBlobQueue();
  }

  private async drainBlobQueue(): Promise<void> {
    while (this.blobQueue !== null && this.blobQueue.length > 0) {
      const item = this.blobQueue.shift()!;
      let ready: Buffer | string;
      let size: number;
      if (item instanceof Blob) {
        ready = Buffer.from(await item.arrayBuffer());
        size = item.size;
      } else {
        ready = item;
        size = typeof item === 'string' ? Buffer.byteLength(item) : item.length;
      }
      this.blobQueueBytes -= size;
      if (this.state === ReadyState.OPEN && this.connection !== null) this.transmit(ready);
      else this.discarded += size;
    }
    this.blobQueue = null;
  }

  /**
   * Spec: `code` must be 1000 or 3000-4999 (InvalidAccessError), `reason` at most 123
   * bytes of UTF-8 (SyntaxError). Closing while connecting fails the connection.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined) {
      // WebIDL: the argument is `[Clamp] unsigned short`, so 3000.4 means 3000.
      code = clampUnsignedShort(code);
      if (!isApplicationCloseCode(code)) {
        throw domException('close code must be 1000 or in 3000-4999', 'InvalidAccessError');
      }
    }
    const text = reason === undefined ? '' : String(reason);
    if (Buffer.byteLength(text) > 123) throw domException('close reason longer than 123 bytes', 'SyntaxError');
    if (this.state === ReadyState.CLOSING || this.state === ReadyState.CLOSED) return;
    if (this.state === ReadyState.CONNECTING) {
      this.state = ReadyState.CLOSING;
      this.fail(new HotlineError('HL_ERR_INVALID_STATE', 'closed before the connection was established'));
      return;
    }
    this.state = ReadyState.CLOSING;
    // Spec: no code → a Close frame with no status; a reason needs a code.
    this.connection!.close(code ?? (text === '' ? CloseCode.NO_STATUS : CloseCode.NORMAL), text);
  }

  /**
   * Node-only: sends a Ping (RFC 6455 §5.5.2); the server's Pong fires a `pong` event. At
   * most 125 bytes (§5.5), more throws `HL_ERR_INVALID_ARGUMENT`.
   */
  ping(data?: Payload): void {
    const payload = data === undefined ? undefined : toControlPayload(data);
    if (this.state !== ReadyState.OPEN) throw domException('not open', 'InvalidStateError');
    this.connection!.ping(payload);
  }

  /** Node-only: drops the TCP connection at once (over HTTP/2: resets the stream, CANCEL). */
  terminate(): void {
    this.terminated = true;
    if (this.connection !== null) this.connection.terminate();
    else this.fail(new HotlineError('HL_ERR_INVALID_STATE', 'terminated'));
  }

  // ---- Connecting ----------------------------------------------------------------------------

  private connect(url: URL, protocols: string[], given: WebSocketOptions): void {
    const options = resolveClientOptions(given);
    const deflate = options.perMessageDeflate;
    const negotiation = deflate === false ? undefined : deflateNegotiation(deflate);
    this.resolved = options;
    this.negotiation = negotiation;
    if (options.http2 !== undefined && options.http2 !== false) {
      this.pending = new PendingClientHandshake(this, Date.now() + options.handshakeTimeout);
      clientSweep.add(this.pending);
      this.request = new ExtendedConnect(
        {
          url,
          protocols,
          extensions: negotiation?.offer ?? '',
          headers: options.headers,
          tls: options.tls,
          session: options.http2 === true ? undefined : options.http2.session,
        },
        // The WebSocket is the handshake's target (http2Opened, http2Failed: internal, so
        // not declared as an `implements` that the published declarations would lack).
        this,
      );
      return;
    }
    const key = generateKey();
    const secure = url.protocol === 'wss:';
    const headers = {
      ...options.headers,
      ...requestHeaders({ key, protocols, extensions: negotiation?.offer ?? '' }),
    };
    const requestOptions: https.RequestOptions = {
      ...options.tls,
      protocol: secure ? 'https:' : 'http:',
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      path: url.pathname + url.search,
      method: 'GET',
      headers,
      agent: options.agent ?? false,
    };
    const request = (secure ? https : http).request(requestOptions);
    this.request = request;
    this.pending = new PendingClientHandshake(this, Date.now() + options.handshakeTimeout);
    clientSweep.add(this.pending);

    request.on('upgrade', (response: IncomingMessage, socket: Socket, head: Buffer) => {
      this.endHandshake();
      if (this.state !== ReadyState.CONNECTING) {
        socket.destroy();
        return;
      }
      let validated: ValidatedResponse;
      try {
        validated = validateResponse({ status: response.statusCode ?? 0, headers: response.headers }, { key, protocols });
      } catch (error) {
        socket.destroy();
        this.fail(error);
        return;
      }
      this.open(socket, head, validated, 101);
    });
    request.on('response', (response: IncomingMessage) => {
      this.endHandshake();
      response.resume();
      let error = new HandshakeError('HL_ERR_HANDSHAKE_STATUS', response.statusCode ?? 0, `unexpected server response ${response.statusCode}`);
      // Node's parser reports a 101 that lacks `Upgrade` or `Connection: Upgrade` as a
      // plain response: §4.1's checks name the header that is missing.
      if (response.statusCode === 101) {
        try {
          validateResponse({ status: 101, headers: response.headers }, { key, protocols });
        } catch (failure) {
          if (failure instanceof HandshakeError) error = failure;
        }
      }
      this.fail(error);
    });
    request.on('error', (error: Error) => {
      this.endHandshake();
      if (this.connection === null) this.fail(new HotlineError('HL_ERR_SOCKET', error.message, { cause: error }));
    });
    request.end();
  }

  /**
   * The server's answer has been validated (a 101, or a 2xx over HTTP/2): the extension it
   * accepted is checked against the offer (RFC 6455 §9.1, the same over HTTP/2, RFC 8441
   * §5), then `socket` becomes the shell's transport.
   */
  private open(socket: StreamSocket, head: Buffer, validated: ValidatedResponse, status: number): void {
    const options = this.resolved;
    // The connection already failed (a deadline, close() while connecting): too late.
    if (options === null) {
      socket.destroy();
      return;
    }
    const negotiation = this.negotiation;
    this.resolved = null;
    this.negotiation = undefined;
    let codec: MessageCodec | null = null;
    let extensions = '';
    try {
      if (validated.extensions !== '' && negotiation === undefined) {
        throw new HandshakeError('HL_ERR_HANDSHAKE_EXTENSIONS', status, 'server accepted an extension that was not offered');
      }
      if (negotiation !== undefined) codec = negotiation.accept(validated.extensions, options.maxPayload);
      extensions = codec === null ? '' : validated.extensions;
      this.protocolValue = validated.protocol;
    } catch (error) {
      socket.destroy();
      this.fail(error);
      return;
    }
    this.extensionsValue = extensions;
    // Nothing is read until `open` has been dispatched (see resumeAfterOpen).
    socket.pause();
    this.connection = new WebSocketShell(socket, clientOwner, this, clientSweep, {
      side: Side.CLIENT,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
      closeTimeout: options.closeTimeout,
      // The client keeps no idle deadline and sends no heartbeat: the server does.
      idleTimeout: 0,
      sendPings: false,
      maxBufferedAmount: options.maxBufferedAmount,
      dropsOverLimit: false,
      codec,
      protocol: this.protocolValue,
      extensions,
    });
    this.state = ReadyState.OPEN;
    this.dispatchEvent(new Event('open'));
    setImmediate(resumeAfterOpen, this.connection, head);
  }

  /** @internal RFC 8441 §5: the extended CONNECT was answered 2xx. */
  http2Opened(stream: ClientHttp2Stream, validated: ValidatedResponse, status: number): void {
    this.endHandshake();
    if (this.state !== ReadyState.CONNECTING) {
      stream.close();
      return;
    }
    this.stream = stream;
    // RFC 8441 §5: masking and every other rule of RFC 6455 apply as over TCP.
    this.open(streamSocketOf(stream), EMPTY, validated, status);
  }

  /** @internal The extended CONNECT failed. */
  http2Failed(error: Error): void {
    this.fail(error);
  }

  private endHandshake(): void {
    if (this.pending !== null) {
      clientSweep.delete(this.pending);
      this.pending = null;
    }
    this.request = null;
  }

  /** @internal The handshake deadline passed. */
  handshakeTimedOut(): void {
    const request = this.request;
    this.endHandshake();
    request?.destroy();
    this.fail(new HotlineError('HL_ERR_HANDSHAKE_TIMEOUT', 'opening handshake timed out'));
  }

  /** Spec "fail the WebSocket connection" before it opened: error, then close (1006). */
  private fail(error: unknown): void {
    if (this.failed || this.closedReported) return;
    this.failed = true;
    this.resolved = null;
    this.negotiation = undefined;
    const request = this.request;
    this.endHandshake();
    request?.destroy();
    // HTML: `error` and `close` are fired from a queued task, never from inside the call
    // that failed the connection: after `close()` while CONNECTING, readyState is CLOSING
    // and listeners added right after the call still hear both events.
    setImmediate(reportFailure, this, error);
  }

  /** @internal */
  reportFailure(error: unknown): void {
    this.reportClosed(CloseCode.ABNORMAL, '', false, error);
  }

  // ---- Called by the shell's owner ------------------------------------------------------------------

  /** @internal */
  receiveMessage(data: Buffer, isBinary: boolean): void {
    // Spec: messages are delivered only while OPEN.
    if (this.state !== ReadyState.OPEN) return;
    let value: string | ArrayBuffer | Blob | Buffer;
    if (!isBinary) value = data.toString('utf8');
    else if (this.binaryTypeValue === 'nodebuffer') value = data;
    else if (this.binaryTypeValue === 'arraybuffer') value = toArrayBuffer(data);
    else value = new Blob([data as Uint8Array<ArrayBuffer>]);
    this.dispatchEvent(new MessageEvent('message', { data: value, origin: new URL(this.url).origin }));
  }

  /** @internal The server's Close frame arrived (the closing handshake has started). */
  receiveClosing(): void {
    if (this.state === ReadyState.OPEN) this.state = ReadyState.CLOSING;
  }

  /** @internal The connection failed (protocol error): `error` precedes `close`. */
  connectionFailed(error: Error): void {
    this.failed = true;
    this.pendingError = error;
  }

  private pendingError: unknown = null;

  /** @internal The TCP connection is closed. */
  connectionClosed(code: number, reason: string, wasClean: boolean): void {
    let failure: unknown = this.pendingError ?? (wasClean ? null : this.connection!.failure);
    const stream = this.stream;
    // Over HTTP/2 the stream was reset, or its connection went: the error names the HTTP/2
    // code (RFC 9113 §7) rather than Node's message. Failures of the shell's own (a
    // timeout, a protocol error) keep theirs.
    if (!wasClean && stream !== null && !this.terminated && (failure === null || (failure as HotlineError).code === 'HL_ERR_SOCKET')) {
      const rstCode = stream.rstCode ?? 0;
      if (rstCode !== 0 || failure !== null) {
        const cause = failure === null ? null : (((failure as Error).cause as Error | undefined) ?? (failure as Error));
        failure = new Http2StreamReset(rstCode, 'by the server or its connection', cause);
      }
    }
    this.reportClosed(code, reason, wasClean, failure);
  }

  /** Spec "the WebSocket connection is closed": CLOSED, then `error` if it failed, then `close`. */
  private reportClosed(code: number, reason: string, wasClean: boolean, error: unknown): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.state = ReadyState.CLOSED;
    if (error !== null && error !== undefined && (this.failed || !wasClean)) {
      const message = error instanceof Error ? error.message : String(error);
      this.dispatchEvent(new ErrorEvent('error', { error, message }));
    }
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }
}

/**
 * The owner of every client's shell: one object, the `WebSocket` being each shell's facade.
 * The Pong to a server's Ping is automatic (protocol core); Node callers may still listen
 * for `ping` and `pong` events (a MessageEvent whose `data` is the payload, a Buffer), as
 * ws users do: browsers expose neither.
 */
const clientOwner: ConnectionOwner<WebSocket> = {
  message(ws, data, isBinary) {
    ws.receiveMessage(data, isBinary);
  },
  ping(ws, data) {
    ws.dispatchEvent(new MessageEvent('ping', { data }));
  },
  pong(ws, data) {
    ws.dispatchEvent(new MessageEvent('pong', { data }));
  },
  // A Close frame from the server moves the API to CLOSING at once (WHATWG "the
  // WebSocket closing handshake is started").
  closing(ws) {
    ws.receiveClosing();
  },
  error(ws, error) {
    ws.connectionFailed(error);
  },
  close(ws, code, reason, wasClean) {
    ws.connectionClosed(code, reason, wasClean);
  },
};

/** WebIDL `[Clamp] unsigned short`: NaN is 0; clamp to [0, 65535]; round half to even. */
function clampUnsignedShort(value: unknown): number {
  const x = Number(value);
  if (Number.isNaN(x)) return 0;
  const clamped = Math.min(Math.max(x, 0), 65535);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  return fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}

const EMPTY = Buffer.alloc(0);

function reportFailure(ws: WebSocket, error: unknown): void {
  ws.reportFailure(error);
}

/**
 * HTML "establish a WebSocket connection" queues one task for `open` and one per message:
 * frames that arrived in the same read as the 101 are delivered in a later task, so that
 * a listener added once `open` fired (even from a promise continuation) still sees them.
 * Resuming first keeps the order: the head is parsed now, buffered reads come after it.
 */
function resumeAfterOpen(connection: WebSocketShell<WebSocket>, head: Buffer): void {
  // A timer callback: `start` keeps a fault inside this connection, never the process.
  connection.start(head);
}

class PendingClientHandshake implements Sweepable {
  constructor(
    private readonly owner: WebSocket,
    private readonly deadline: number,
  ) {}

  sweep(now: number): void {
    if (now >= this.deadline) this.owner.handshakeTimedOut();
  }
}

/** Spec URL parsing: ws, wss, http→ws, https→wss; fragments are a SyntaxError. */
function parseUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw domException(`invalid URL ${String(input)}`, 'SyntaxError');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw domException(`URL scheme must be ws or wss, not ${url.protocol}`, 'SyntaxError');
  }
  if (url.hash !== '' || String(input).includes('#')) throw domException('URL must not have a fragment', 'SyntaxError');
  return url;
}

function toArrayBuffer(data: Buffer): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) {
    return data.buffer;
  }
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}
