import { constants, type Http2SecureServer, type Http2Server, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * The connections of the HTTP/2 servers a Hotline server is attached to, for its
 * shutdown. An HTTP/2 connection carries many requests and WebSockets at once, so it is
 * not "idle" the way a kept-alive HTTP/1.1 connection is: it is asked to go away
 * (GOAWAY, RFC 9113 §6.8) — no new stream, those open finish — and dropped at the deadline.
 * The TLS connections that chose HTTP/1.1 by ALPN (`allowHTTP1`) are kept here too, as an
 * `http.Server` would keep them, so that nothing outlives the shutdown.
 */
export class Http2Sessions {
  private readonly sessions = new Set<Http2Session>();
  private readonly sockets = new Set<Socket>();

  watch(server: Http2SecureServer | Http2Server): void {
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('stream', (stream: ServerHttp2Stream) => stream.once('close', () => countReset(session, stream)));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** How many HTTP/2 connections are open. */
  get size(): number {
    return this.sessions.size;
  }

  /** GOAWAY on every connection: the streams open go on to their end, no new one starts. */
  goAway(): void {
    for (const session of this.sessions) if (!session.closed && !session.destroyed) session.close();
  }

  /** The deadline has passed: every connection is dropped, streams and all. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * Streams reset within one second past which a connection is dropped: "rapid reset"
 * (CVE-2023-44487), streams opened and cancelled at once to make the server start work
 * without ever counting against the concurrent-stream limit. nghttp2 stops reading such a
 * connection and sends GOAWAY, but node:http2 keeps it — and the streams it had already
 * started — open until they end on their own; this ends it at once. An honest client
 * resets at most its open streams at once (128, `MAX_CONCURRENT_STREAMS`), when a page is
 * left.
 */
export const MAX_RESETS_PER_SECOND = 256;

const kResets = Symbol('hotline.resets');
type Counted = Http2Session & { [kResets]?: { since: number; count: number } };

function countReset(session: Counted, stream: ServerHttp2Stream): void {
  const code = stream.rstCode;
  if (code === undefined || code === constants.NGHTTP2_NO_ERROR || session.destroyed) return;
  const now = Date.now();
  let resets = session[kResets];
  if (resets === undefined || now - resets.since >= 1000) resets = session[kResets] = { since: now, count: 0 };
  if (++resets.count !== MAX_RESETS_PER_SECOND + 1) return;
  // RFC 9113 §5.4.1: the connection error is said (GOAWAY), then the connection closed.
  session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
  setImmediate(destroySession, session);
}

function destroySession(session: Http2Session): void {
  session.destroy();
}
