import type { Http2Stream } from 'node:http2';
import type { StreamSocket } from '../websocket/stream-socket.js';

/**
 * An HTTP/2 stream as the WebSocket shell's transport (RFC 8441 §5: once the extended
 * CONNECT has been answered 2xx, the stream's DATA frames carry the WebSocket bytes, in
 * both directions, exactly as a TCP connection would).
 *
 * An `Http2Stream` is already a duplex with the shell's needs (write, cork, writableLength,
 * writableNeedDrain, pause, resume, end, destroy): its writes wait for HTTP/2 flow control
 * (the peer's window), so `writableNeedDrain` and 'drain' report backpressure exactly as a
 * socket's do. What it lacks is lent to it here, on the stream itself, so that no wrapper
 * sits between every read and write:
 *
 * - `remoteAddress`, the address of the connection the stream is multiplexed on;
 * - `setNoDelay`, which is the connection's to set (Nagle is off on every connection
 *   Node's HTTP/2 server accepts), and a no-op on one stream of it.
 *
 * `end()` sends END_STREAM: RFC 8441 §6 maps the TCP FIN of RFC 6455 to it. `destroy()`
 * resets the stream (RST_STREAM, CANCEL), the counterpart of a TCP RST; the connection
 * and its other streams go on. A reset by the other end reads as the end of the stream
 * with no Close frame before it: the WebSocket closes with 1006 (RFC 6455 §7.1.5), as
 * after a TCP reset; a reset with an error code other than CANCEL is also reported as the
 * stream's 'error' (node:http2's `ERR_HTTP2_STREAM_ERROR`, naming the code).
 */
export function streamSocketOf(stream: Http2Stream): StreamSocket {
  const lent = stream as Http2Stream & { setNoDelay?: unknown };
  if (lent.setNoDelay === undefined) {
    Object.defineProperty(lent, 'setNoDelay', { value: noDelayOnStream, configurable: true });
    Object.defineProperty(lent, 'remoteAddress', { get: remoteAddressOfStream, configurable: true });
  }
  return lent as unknown as StreamSocket;
}

function noDelayOnStream(this: Http2Stream): Http2Stream {
  return this;
}

function remoteAddressOfStream(this: Http2Stream): string | undefined {
  // A stream whose connection has gone has no session.
  return this.session?.socket?.remoteAddress;
}
