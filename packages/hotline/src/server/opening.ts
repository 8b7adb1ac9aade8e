import { constants as http2, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { HandshakeError } from '../errors.js';
import {
  type AcceptOptions,
  type Headers,
  type ValidatedRequest,
  acceptResponse,
  rejectResponse,
  validateExtendedConnect,
  validateRequest,
} from '../protocol/handshake.js';
import { streamSocketOf } from '../http2/stream-socket.js';
import { CONNECTION_SPECIFIC_FIELDS } from '../http2/fields.js';
import type { StreamSocket } from '../websocket/stream-socket.js';
import type { Opening, UpgradeHead } from './transport-contract.js';

export type { Opening } from './transport-contract.js';

/** ms a refused client is given to read its answer before its connection (or stream) is dropped. */
export const REFUSAL_LINGER = 1000;

/** An upgrade request on an HTTP/1.1 connection (RFC 6455 §4.2). */
export class Http1Opening implements Opening {
  readonly httpVersion = '1.1';
  constructor(readonly socket: Socket) {}

  get connection(): Socket {
    return this.socket;
  }

  get gone(): boolean {
    return this.socket.destroyed;
  }

  validate(head: UpgradeHead): ValidatedRequest {
    return validateRequest({ method: head.method ?? '', httpVersion: head.httpVersion, headers: head.headers });
  }

  accept(answer: AcceptOptions): void {
    this.socket.write(acceptResponse(answer));
  }

  refuse(error: HandshakeError): void {
    refuseConnection(this.socket, error);
  }

  private guarded = false;

  guard(): void {
    if (this.guarded) return;
    this.guarded = true;
    this.socket.on('error', destroyOnError);
  }

  unguard(): void {
    if (!this.guarded) return;
    this.guarded = false;
    this.socket.off('error', destroyOnError);
  }
}

/** Writes the refusal on an HTTP/1.1 connection that never became a WebSocket, and closes it. */
export function refuseConnection(socket: Socket, error: HandshakeError): void {
  if (socket.destroyed) return;
  // A reset while the refusal is written must not become an unhandled 'error'.
  if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let response: string;
  try {
    response = rejectResponse(error.status, error.message, error.headers as Record<string, string>);
  } catch {
    response = rejectResponse(500, '');
  }
  socket.end(response);
  // A peer that never reads must not hold the socket open, nor one that keeps sending
  // (an idle timeout would restart with every byte): the refusal has a hard deadline.
  // What it sends meanwhile is not read.
  socket.pause();
  setTimeout(destroy, REFUSAL_LINGER, socket).unref();
}

/**
 * An extended CONNECT on an HTTP/2 stream (RFC 8441 §4: `:method` CONNECT, `:protocol`
 * websocket). The answer is a HEADERS frame: 200 opens the WebSocket on the stream, any
 * other status refuses it, and the connection with its other streams goes on either way.
 */
export class Http2Opening implements Opening {
  readonly httpVersion = '2.0';
  readonly connection = null;
  readonly socket: StreamSocket;

  constructor(readonly stream: ServerHttp2Stream) {
    this.socket = streamSocketOf(stream);
  }

  get gone(): boolean {
    return this.stream.destroyed || this.stream.headersSent;
  }

  validate(head: UpgradeHead): ValidatedRequest {
    return validateExtendedConnect(head.headers as Headers);
  }

  accept(answer: AcceptOptions): void {
    // RFC 8441 §5: a 2xx answer, with the subprotocol and extensions chosen as in RFC 6455 §4.2.2.
    const headers: Record<string, string> = { ':status': '200' };
    if (answer.protocol !== '') headers['sec-websocket-protocol'] = answer.protocol;
    if (answer.extensions !== '') headers['sec-websocket-extensions'] = answer.extensions;
    if (answer.headers !== undefined) Object.assign(headers, http2Fields(answer.headers));
    this.stream.respond(headers);
  }

  refuse(error: HandshakeError): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    this.guard();
    if (stream.headersSent) {
      stream.close(http2.NGHTTP2_CANCEL);
      return;
    }
    const body = error.message === '' ? '' : error.message + '\n';
    let fields: Record<string, string>;
    try {
      fields = http2Fields(error.headers);
    } catch {
      fields = {};
    }
    stream.respond({
      ...fields,
      ':status': String(error.status),
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
    });
    stream.end(body);
    // The client may still be sending (DATA of a request it thinks open): it is read and
    // dropped, and a stream it does not end in time is reset, NO_ERROR — RFC 9113 §8.1:
    // a server that answered before the request was complete asks the client to stop so.
    stream.on('data', discard);
    stream.resume();
    setTimeout(resetStream, REFUSAL_LINGER, stream).unref();
  }

  guard(): void {
    if (!this.stream.listeners('error').includes(closeOnError)) this.stream.on('error', closeOnError);
  }

  unguard(): void {
    this.stream.off('error', closeOnError);
  }
}

/**
 * HTTP/2 field names are lower case (RFC 9113 §8.2.1), and the fields that only make sense
 * on one HTTP/1.1 connection are forbidden (§8.2.2): an application's headers for the
 * answer are lowered and those dropped. A value with a line break is refused, as over HTTP/1.1.
 */
function http2Fields(headers: Readonly<Record<string, string>>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC_FIELDS.has(lower)) continue;
    if (/[\r\n\0]/.test(value) || lower.startsWith(':')) {
      throw new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, `invalid response header ${JSON.stringify(name)}`);
    }
    fields[lower] = value;
  }
  return fields;
}

function discard(): void {}

function resetStream(stream: ServerHttp2Stream): void {
  if (!stream.destroyed) stream.close(http2.NGHTTP2_NO_ERROR);
}

function destroy(socket: Socket): void {
  socket.destroy();
}

function destroyOnError(this: Socket): void {
  this.destroy();
}

function closeOnError(this: ServerHttp2Stream): void {
  this.destroy();
}
