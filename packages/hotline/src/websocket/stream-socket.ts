/**
 * What the WebSocket shell uses of its transport: a `net.Socket`, a `tls.TLSSocket`, or,
 * in tests, one end of an in-memory duplex pair. A byte stream that writes, reports how
 * much it holds, pushes back (`writableNeedDrain`, 'drain'), can stop and restart reading,
 * and ends (FIN, `end`) or is dropped (`destroy`).
 */
export interface StreamSocket {
  /** Queues bytes; false once the stream holds more than its high-water mark. */
  write(chunk: Uint8Array): boolean;
  /** Between `cork` and `uncork`, writes go out together (writev). */
  cork(): void;
  uncork(): void;
  /** Bytes accepted by `write` and not yet taken by the kernel (or the other end). */
  readonly writableLength: number;
  /** A write has been refused: 'drain' follows once the backlog has gone. */
  readonly writableNeedDrain: boolean;
  /** Our FIN has been queued: nothing more may be written. */
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  readonly remoteAddress?: string | undefined;

  pause(): unknown;
  resume(): unknown;
  /** Sends our FIN (RFC 6455 §7.1.1: the end of the closing handshake). */
  end(): unknown;
  /** Drops the connection at once. */
  destroy(): unknown;
  /** Small frames go out at once (Nagle off): a ping or a short message is not held back. */
  setNoDelay(noDelay: boolean): unknown;
  /** The shell keeps its own deadlines (the sweep): the stream's inactivity timer is off. */
  setTimeout(timeout: number): unknown;

  /** 'data', 'end', 'close', 'error', 'drain' and, once, 'finish'. */
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}
