/**
 * The contract between the WebSocket shell and whoever it works for: the server's peers
 * of one route, the WHATWG client, the socket that carries an HTTP session. The shell
 * drives the protocol; the owner is told what happened, through these hooks, and acts
 * through the shell's public methods.
 *
 * One owner object serves many connections (one per route of a server, one for every
 * client): each shell keeps a reference to it and one opaque slot, the `facade`, for the
 * owner's own object of that connection, which every hook receives. So no closure and
 * no object beyond the facade exist per connection.
 *
 * A hook may return a promise: a rejection is handled as a throw. A hook that throws fails
 * that connection alone with 1011 (RFC 6455 §7.4.1, details withheld from the peer); the
 * error is kept as the shell's `failure`, for the owner to read at the close.
 */
export interface ConnectionOwner<F> {
  /** A whole message arrived (inflated and UTF-8-checked when compressed). */
  message(facade: F, data: Buffer, isBinary: boolean): unknown;
  /**
   * The TCP connection is gone, reported exactly once. `code` and `reason` are those of the
   * peer's Close frame, 1006 when none came (RFC 6455 §7.1.5); `wasClean` when both Close
   * frames were exchanged. No hook runs after it but `error`, for a rejection that came late.
   */
  close(facade: F, code: number, reason: string, wasClean: boolean): void;
  /** The peer's Close frame arrived (§7.1.3: the closing handshake has started). */
  closing?(facade: F): void;
  /** A Ping arrived; the Pong has already been queued (§5.5.2). */
  ping?(facade: F, data: Buffer): unknown;
  pong?(facade: F, data: Buffer): unknown;
  /** Everything a send answered `buffered` for has been handed to the kernel. */
  drain?(facade: F): unknown;
  /**
   * The connection failed with a close code of its own: a protocol violation, a limit, a
   * fault of the shell (1011); the error carries the code sent (`closeCode`). Called at
   * most once, and the close follows. Failures without a Close frame of ours (a socket
   * error, a timeout, a hook that threw) are not reported here: the owner reads `failure`
   * at the close. Also called after the close for a hook whose promise rejected late.
   */
  error?(facade: F, error: Error): unknown;
}
