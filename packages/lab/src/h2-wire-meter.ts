import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type FrameCounts, FrameDecoder, addFrameCounts, emptyFrameCounts } from './h2-frames.js';
import { tapTlsSocket } from './h2-tap.js';
import type { WireMeter } from './wire-meter.js';

/**
 * The wire meter of an HTTP/2 server (`hotline serve --http2`). Over HTTP/2 one TLS
 * connection of a browser carries every transport's streams at once, so the bytes of a
 * socket can no longer be given to one owner (wire-meter.ts). They are given by stream
 * instead: every h2 connection is tapped (h2-tap.ts), its frames decoded, and each
 * stream's frames counted to the owner of the request that opened it (its `?transport=`).
 *
 * - Frames of a stream before its owner is known (its HEADERS are decoded before the
 *   session emits 'stream') wait in the connection's pending counts and join the owner's.
 * - Frames of stream 0 (SETTINGS, PING, WINDOW_UPDATE of the connection, GOAWAY), the
 *   preface, and frames of a stream already closed, are the connection's: counted apart
 *   (`connectionFrames`), shared by every transport on it.
 * - The encrypted bytes of every TLS connection (TCP socket) are counted apart too
 *   (`tls`): they cannot be split by stream.
 *
 * HTTP/1.1 connections on the same port (ALPN http/1.1, `allowHTTP1`) are left to the
 * socket meter (`WireMeter.attach(server, 'secureConnection')`, after this `attach`).
 */
export class Http2WireMeter {
  readonly connectionFrames = { up: emptyFrameCounts(), down: emptyFrameCounts() };
  readonly tls = { bytesIn: 0, bytesOut: 0, connections: 0, h2Connections: 0 };
  private readonly tcpSockets = new Set<Socket>();
  private readonly meter: WireMeter;
  private readonly classify: (path: string) => string | null;

  constructor(meter: WireMeter, classify: (path: string) => string | null) {
    this.meter = meter;
    this.classify = classify;
  }

  /**
   * `tap: false` (the bench's server, whose clients count the frames): the connections are
   * not tapped, so that the server's CPU is its own; requests and answers are still counted.
   */
  attach(server: Http2SecureServer, tap = true): void {
    server.on('connection', (socket: Socket) => {
      this.tls.connections++;
      this.tcpSockets.add(socket);
      const counted = { read: 0, written: 0 };
      (socket as Socket & { [kCounted]?: typeof counted })[kCounted] = counted;
      socket.once('close', () => {
        this.settleTcp(socket);
        this.tcpSockets.delete(socket);
      });
    });
    // node:http2's own listener starts an HTTP/2 session (or an HTTP/1.1 one) on each
    // secure connection: it is handed the tapped duplex instead of the TLS socket.
    const own = server.listeners('secureConnection') as Array<(socket: TLSSocket) => void>;
    if (tap) server.removeAllListeners('secureConnection');
    if (tap) server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') {
        for (const listener of own) listener.call(server, socket);
        return;
      }
      this.tls.h2Connections++;
      // Nagle off, as on every connection a server of the library accepts: the session
      // cannot set it through the tap (a JavaScript stream has no socket options), and with
      // it on a small write waits for the peer's delayed ACK, tens of milliseconds.
      socket.setNoDelay(true);
      const connection = new Connection(this);
      const tapped = tapTlsSocket(socket, connection.up, connection.down);
      connections.set(tapped, connection);
      for (const listener of own) listener.call(server, tapped as unknown as TLSSocket);
    });
    // Which answers to polls were empty, as for HTTP/1.1 (the socket meter's `inspect`).
    server.prependListener('request', (request: Http2ServerRequest, response: Http2ServerResponse) => {
      if (request.httpVersion !== '2.0') return;
      const owner = this.classify(request.url);
      if (owner === null) return;
      response.once('finish', () => this.meter.inspect?.(owner, response as unknown as ServerResponse));
    });
    server.on('session', (session: ServerHttp2Session) => {
      const connection = connectionOf(session) ?? new Connection(this);
      session.prependListener('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => connection.open(stream, headers));
    });
  }

  /** @internal The owner of a request path, or null (uncounted). */
  ownerOf(path: string): string | null {
    return this.classify(path);
  }

  /** @internal */
  countersOf(owner: string): { up: FrameCounts; down: FrameCounts; counters: ReturnType<WireMeter['of']> } {
    const counters = this.meter.of(owner);
    return { up: counters.h2Up, down: counters.h2Down, counters };
  }

  /** Counts the encrypted bytes that moved on every TLS connection since the last count. */
  flush(): void {
    for (const socket of this.tcpSockets) this.settleTcp(socket);
  }

  /** Zeroes what this meter keeps itself (the owners' counters are the socket meter's). */
  reset(): void {
    this.flush();
    for (const counts of [this.connectionFrames.up, this.connectionFrames.down]) Object.assign(counts, emptyFrameCounts());
    Object.assign(this.tls, { bytesIn: 0, bytesOut: 0, connections: this.tcpSockets.size, h2Connections: 0 });
  }

  private settleTcp(socket: Socket): void {
    const counted = (socket as Socket & { [kCounted]?: { read: number; written: number } })[kCounted];
    if (counted === undefined) return;
    this.tls.bytesIn += socket.bytesRead - counted.read;
    this.tls.bytesOut += socket.bytesWritten - counted.written;
    counted.read = socket.bytesRead;
    counted.written = socket.bytesWritten;
  }
}

const kCounted = Symbol('hotline.lab.tls-counted');
/** The tapped duplex of each h2 connection, as the session knows it, to its counts. */
const connections = new WeakMap<object, Connection>();

/** The connection a session runs on: its socket is (a wrapper over) the tapped duplex. */
function connectionOf(session: ServerHttp2Session): Connection | undefined {
  // `session.socket` is a proxy to the session's socket, which for a duplex that is not a
  // native socket is node's JSStreamSocket wrapper, whose `stream` is the duplex.
  const socket = session.socket as unknown as { stream?: object };
  return socket.stream === undefined ? undefined : connections.get(socket.stream);
}

interface StreamCounts {
  up: FrameCounts;
  down: FrameCounts;
}

/** One tapped h2 connection: its decoders and which owner each stream's frames go to. */
class Connection {
  readonly up: FrameDecoder;
  readonly down: FrameDecoder;
  private readonly meter: Http2WireMeter;
  /** Streams whose owner is known, and those not yet. */
  private readonly owned = new Map<number, string>();
  private readonly pending = new Map<number, StreamCounts>();
  /** Owners that have had a stream on this connection (each counts the connection once). */
  private readonly owners = new Set<string>();
  /** Streams closed, oldest first, whose owners are still kept (see `open`). */
  private readonly closed: number[] = [];
  /** The newest stream the session announced: older ones not owned have closed. */
  private announced = 0;

  constructor(meter: Http2WireMeter) {
    this.meter = meter;
    this.up = new FrameDecoder(true, (id) => this.countsOf(id, 'up'));
    this.down = new FrameDecoder(false, (id) => this.countsOf(id, 'down'));
  }

  open(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // Announced streams have their id (it is undefined only before a client's HEADERS go out).
    const id = stream.id!;
    if (id > this.announced) this.announced = id;
    const owner = this.meter.ownerOf(String(headers[':path'] ?? '/'));
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    if (owner === null) return;
    const { up, down, counters } = this.meter.countersOf(owner);
    if (waiting !== undefined) {
      addFrameCounts(up, waiting.up);
      addFrameCounts(down, waiting.down);
    }
    this.owned.set(id, owner);
    counters.requests++;
    // RFC 8441 §4: a WebSocket over HTTP/2 is an extended CONNECT, the upgrade of HTTP/1.1.
    if (headers[':method'] === 'CONNECT' && headers[':protocol'] !== undefined) counters.upgrades++;
    if (!this.owners.has(owner)) {
      this.owners.add(owner);
      counters.connections++;
    }
    // A stream's last frames may reach the socket after its 'close' event: it is forgotten
    // only once many newer streams have closed.
    stream.once('close', () => {
      this.closed.push(id);
      if (this.closed.length > 256) this.owned.delete(this.closed.shift()!);
    });
  }

  private countsOf(id: number, direction: 'up' | 'down'): FrameCounts {
    if (id === 0) return this.meter.connectionFrames[direction];
    const owner = this.owned.get(id);
    if (owner !== undefined) return this.meter.countersOf(owner)[direction];
    // A stream the session has not announced yet (client to server: its HEADERS are being
    // decoded now), or one already closed (a late WINDOW_UPDATE or RST_STREAM).
    if (direction === 'down' || id % 2 === 0 || id <= this.announced) return this.meter.connectionFrames[direction];
    let waiting = this.pending.get(id);
    if (waiting === undefined) {
      // A stream id the session will never announce (refused, or past a GOAWAY) must not
      // hold memory: only the few newest wait.
      if (this.pending.size >= 64) this.pending.delete(this.pending.keys().next().value!);
      waiting = { up: emptyFrameCounts(), down: emptyFrameCounts() };
      this.pending.set(id, waiting);
    }
    return waiting[direction];
  }
}

/** For `Classify`: a request path as the socket meter's classify reads it. */
export function pathRequest(path: string): IncomingMessage {
  return { url: path } as IncomingMessage;
}
