import type { Http2SecureServer, Http2Server, Http2Session } from 'node:http2';
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
