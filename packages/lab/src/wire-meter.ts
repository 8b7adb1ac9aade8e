import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type WireCounters, emptyCounters } from './snapshot.js';

/**
 * Counts the bytes on the wire per transport, at the server's sockets: what the kernel
 * gave the HTTP parser (`socket.bytesRead`) and what the server wrote
 * (`socket.bytesWritten`), so HTTP request lines, headers, chunked framing, SSE field
 * names and WebSocket frame headers are all in, and TCP/IP headers are not.
 *
 * A socket carries one request at a time (browsers and Node's agent do not pipeline), so
 * its bytes can be given to whoever owns it: when a request arrives, the bytes read
 * since the last count are that request's head (and maybe body), those written are the
 * end of the previous response; from then until the next request, everything belongs to
 * the new request's owner. An upgraded socket belongs to its WebSocket for good.
 * Long-lived responses (SSE, held long polls) and WebSockets are counted as they go by
 * `flush()`, which the stats call before every snapshot.
 */

/** Names the owner of a request (a transport, 'chat', ...), or null to leave it uncounted. */
export type Classify = (request: IncomingMessage) => string | null;

/** Sees each finished response of a counted owner (to tell empty answers from full ones). */
export type Inspect = (owner: string, response: ServerResponse) => void;

interface SocketState {
  readonly meter: WireMeter;
  owner: string | null;
  read: number;
  written: number;
  fresh: boolean;
}

const kState = Symbol('hotline.lab.wire');
type MeteredSocket = Socket & { [kState]?: SocketState };
const kSocket = Symbol('hotline.lab.wire.socket');
// Node detaches `response.socket` before 'finish' listeners run: keep our own reference.
type MeteredResponse = ServerResponse & { [kSocket]?: MeteredSocket };

export class WireMeter {
  readonly counters = new Map<string, WireCounters>();
  private readonly sockets = new Set<MeteredSocket>();
  private readonly classify: Classify;
  /** @internal */
  readonly inspect: Inspect | null;

  constructor(classify: Classify, inspect?: Inspect) {
    this.classify = classify;
    this.inspect = inspect ?? null;
  }

  /**
   * Listens to a server's sockets. Call before anything else handles its `upgrade`
   * events (the listener is prepended, but the socket must not have been read further).
   */
  attach(server: http.Server, connectionEvent: 'connection' | 'secureConnection' = 'connection'): void {
    // Over TLS the socket whose bytes are HTTP's is the TLS one ('secureConnection').
    server.on(connectionEvent, (socket: Socket) => this.track(socket));
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => this.onRequest(request, response));
    server.prependListener('upgrade', (request: IncomingMessage, socket: Socket) => this.onUpgrade(request, socket));
  }

  /** The counters of `owner` (created on first use). */
  of(owner: string): WireCounters {
    let counters = this.counters.get(owner);
    if (counters === undefined) {
      counters = emptyCounters();
      this.counters.set(owner, counters);
    }
    return counters;
  }

  /** Counts the bytes that moved on every open socket since the last count. */
  flush(): void {
    for (const socket of this.sockets) settle(socket, socket[kState]!.owner, socket[kState]!.owner);
  }

  /** Zeroes every counter (bytes already moved stay counted as moved: they are not re-counted). */
  reset(): void {
    this.flush();
    this.counters.clear();
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  private track(socket: MeteredSocket): void {
    socket[kState] = { meter: this, owner: null, read: socket.bytesRead, written: socket.bytesWritten, fresh: true };
    this.sockets.add(socket);
    socket.once('close', onSocketClose);
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    // An HTTP/2 request's `socket` is a proxy to the connection its stream shares with
    // others: h2-wire-meter.ts counts it, by stream.
    if (request.httpVersion === '2.0') return;
    const socket = request.socket as MeteredSocket;
    const state = socket[kState];
    if (state === undefined) return; // not accepted by this server (an injected socket)
    const owner = this.classify(request);
    settle(socket, owner, state.owner);
    state.owner = owner;
    if (owner !== null) {
      const counters = this.of(owner);
      counters.requests++;
      if (state.fresh) counters.connections++;
    }
    state.fresh = false;
    (response as MeteredResponse)[kSocket] = socket;
    response.once('finish', onResponseDone);
    response.once('close', onResponseDone);
  }

  private onUpgrade(request: IncomingMessage, socket: MeteredSocket): void {
    const state = socket[kState];
    if (state === undefined) return;
    const owner = this.classify(request);
    settle(socket, owner, state.owner);
    state.owner = owner;
    if (owner !== null) {
      const counters = this.of(owner);
      counters.requests++;
      counters.upgrades++;
      if (state.fresh) counters.connections++;
    }
    state.fresh = false;
  }

  /** @internal */
  forget(socket: MeteredSocket): void {
    this.sockets.delete(socket);
  }
}

/** Gives the bytes read since the last count to `reader`, those written to `writer`. */
function settle(socket: MeteredSocket, reader: string | null, writer: string | null): void {
  const state = socket[kState]!;
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  if (reader !== null && read > state.read) state.meter.of(reader).bytesIn += read - state.read;
  if (writer !== null && written > state.written) state.meter.of(writer).bytesOut += written - state.written;
  state.read = read;
  state.written = written;
}

function onResponseDone(this: MeteredResponse): void {
  const socket = this[kSocket];
  if (socket === undefined) return;
  this[kSocket] = undefined;
  const state = socket[kState];
  if (state === undefined) return;
  settle(socket, state.owner, state.owner);
  if (state.owner !== null && state.meter.inspect !== null) state.meter.inspect(state.owner, this);
}

function onSocketClose(this: MeteredSocket): void {
  const state = this[kState];
  if (state === undefined) return;
  settle(this, state.owner, state.owner);
  state.meter.forget(this);
}
