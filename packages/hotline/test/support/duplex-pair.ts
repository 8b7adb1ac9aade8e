/**
 * Two connected in-memory byte streams that behave like the two ends of a TCP connection,
 * for driving a client shell and a server shell against each other with no server and no
 * sockets. What one end writes, the other reads, on a later turn of the event loop (as
 * from a real socket: never inside the writer's own call). `end()` is a FIN: the other end
 * reads to its 'end'. `destroy()` drops the connection: the other end sees its stream end.
 *
 * Backpressure as TCP gives it: an end that does not read (paused) stops taking bytes once
 * its read buffer holds `highWaterMark`; the writer's bytes then wait in its own buffer
 * (`writableLength`), `write` returns false past its `highWaterMark`, and 'drain' follows
 * once the reader has caught up.
 */
import { Duplex } from 'node:stream';

export interface DuplexPairOptions {
  /** Bytes each end buffers, on its reading and on its writing side. Default 16 KiB, as Node's streams. */
  highWaterMark?: number;
}

export class DuplexEnd extends Duplex {
  /** The other end. */
  other!: DuplexEnd;
  readonly remoteAddress: string;
  /** Bytes written to this end, in total (what went "on the wire" from here). */
  bytesWritten = 0;
  /** The callback of our write that the other end has no room for yet. */
  private blocked: ((error?: Error | null) => void) | null = null;
  /** The other end's FIN (or drop) has been pushed into our read side. */
  private eof = false;

  constructor(remoteAddress: string, highWaterMark: number) {
    // Half-open, as a TCP socket in a server: the peer's FIN does not end our side; the
    // WebSocket shell sends its own when the closing handshake says so.
    super({ allowHalfOpen: true, highWaterMark });
    this.remoteAddress = remoteAddress;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesWritten += chunk.length;
    setImmediate(deliver, this, chunk, callback);
  }

  override _read(): void {
    // Room again: the other end's write that waited goes through.
    const callback = this.other.blocked;
    if (callback === null) return;
    this.other.blocked = null;
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    setImmediate(receiveEof, this.other);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    setImmediate(receiveEof, this.other);
    // A write of ours that waited for room is abandoned; one of the other end's that waited
    // for us to read would wait forever: the bytes are lost, as on a dropped connection.
    this.blocked = null;
    const waiting = this.other.blocked;
    this.other.blocked = null;
    if (waiting !== null) setImmediate(waiting);
    callback(error);
  }

  // What a net.Socket has and a Duplex lacks; nothing to do in memory.
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setTimeout(_timeout: number): this {
    return this;
  }

  /** @internal */
  pushFromOther(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.destroyed || this.eof) {
      // Written to a connection the other side has dropped: lost, as TCP would lose it.
      callback();
      return;
    }
    if (this.push(chunk)) callback();
    else this.other.blocked = callback;
  }

  /** @internal */
  endFromOther(): void {
    if (this.destroyed || this.eof) return;
    this.eof = true;
    this.push(null);
  }
}

function deliver(from: DuplexEnd, chunk: Buffer, callback: (error?: Error | null) => void): void {
  from.other.pushFromOther(chunk, callback);
}

function receiveEof(end: DuplexEnd): void {
  end.endFromOther();
}

/** Two connected ends: what `client` writes, `server` reads, and the other way round. */
export function duplexPair(options: DuplexPairOptions = {}): { client: DuplexEnd; server: DuplexEnd } {
  const highWaterMark = options.highWaterMark ?? 16 * 1024;
  const client = new DuplexEnd('server.test', highWaterMark);
  const server = new DuplexEnd('client.test', highWaterMark);
  client.other = server;
  server.other = client;
  return { client, server };
}
