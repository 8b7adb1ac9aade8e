import http from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import {
  type ClientIo,
  type Driver,
  type DriverOwner,
  type RequestLike,
  type ResolvedClientOptions,
  type ResponseLike,
  type WebSocketConstructor,
  createDriver,
  outgoing,
  resolveClientOptions,
} from 'hotline/client/drivers';
import { WebSocket } from 'hotline';
import type { LabTransport } from './palette.js';
import { type FrameCounts, emptyFrameCounts } from './h2-frames.js';
import { type ClientWire, tappedConnection } from './h2-tap.js';

/**
 * Simulated clients for `bench transports` and the tests: one per transport, each
 * running the universal client's own transport driver and session core (poll, ack,
 * resend, skip what it already has), without its facade — no events, no fallback, no
 * reconnection — so that a thousand of them fit in one process beside the server's, and
 * what the bench measures is the code users run.
 *
 * What a browser would add, the simulation's I/O adds: each client has its own keep-alive
 * agent, as each browser has its own connections (a shared pool would let one client's
 * poll ride on another's warm socket), and sends a desktop Chromium's request headers.
 *
 * Over HTTP/2 (`http2: true`, an https:// URL) each client has ONE h2 connection, as a
 * browser has one per origin: every poll, POST and SSE stream is a stream on it, and the
 * WebSocket an extended CONNECT stream (RFC 8441) on it too. The connection is tapped
 * (h2-tap.ts): its encrypted bytes and its frames, decoded, are the client's `wire`.
 */

export interface SimClientOptions {
  /** Base URL of the route, e.g. http://127.0.0.1:8080/lab/stream */
  url: string;
  transport: LabTransport;
  /**
   * 'browser' (default): the headers a desktop Chromium sends with the browser client's
   * requests (user agent, client hints, fetch metadata, referer...), so that the bytes on
   * the wire are a browser's. 'minimal': only what Node adds (Host, Connection).
   * No cookies either way: a real site's would add to every HTTP request.
   */
  headers?: 'browser' | 'minimal';
  /** HTTP/2 over TLS, one connection per client (the URL is https://). Default false: HTTP/1.1. */
  http2?: boolean;
  /** Receives each text message, once, in order. */
  onMessage(text: string): void;
  /** The session ended or failed. */
  onClose?(reason: string): void;
}

export interface SimClient {
  readonly transport: LabTransport;
  /** Resolves with the set-up time (ms) when the first answer of the server (open) arrives. */
  readonly opened: Promise<number>;
  /** Over HTTP/2: what went over its connection so far; null over HTTP/1.1. */
  readonly wire: H2SimWire | null;
  /** Sends a text message up (WebSocket: a frame; HTTP transports: a POST). */
  send(text: string): void;
  close(): void;
}

/** A simulated client's h2 connection, counted (see h2-frames.ts for what each count holds). */
export interface H2SimWire {
  /** Frames of its streams (requests, responses, the WebSocket's stream), each direction. */
  readonly up: FrameCounts;
  readonly down: FrameCounts;
  /** Frames of the connection itself (stream 0: SETTINGS, PING, WINDOW_UPDATE) and the preface. */
  readonly connectionUp: FrameCounts;
  readonly connectionDown: FrameCounts;
  /** Encrypted bytes at its TCP socket. */
  tlsIn(): number;
  tlsOut(): number;
  /** TLS connections it opened (1, or 0 before it connects). */
  connections: number;
}

export function connectSim(options: SimClientOptions): SimClient {
  return new Sim(options);
}

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** What Chromium sends with a same-origin fetch() (as recorded from the lab page), minus Host and Connection. */
export function browserHeaders(origin: string, kind: 'get' | 'post' | 'upgrade'): Record<string, string> {
  if (kind === 'upgrade') {
    return {
      Pragma: 'no-cache',
      'Cache-Control': 'no-cache',
      'User-Agent': USER_AGENT,
      Origin: origin,
      'Accept-Encoding': 'gzip, deflate, br, zstd',
      'Accept-Language': 'en-US,en;q=0.9',
    };
  }
  return {
    ...(kind === 'get' ? { Pragma: 'no-cache', 'Cache-Control': 'no-cache' } : {}),
    'sec-ch-ua-platform': '"Linux"',
    'User-Agent': USER_AGENT,
    'sec-ch-ua': '"Not:A-Brand";v="8", "Chromium";v="131"',
    'sec-ch-ua-mobile': '?0',
    Accept: '*/*',
    ...(kind === 'post' ? { Origin: origin } : {}),
    'Sec-Fetch-Site': 'same-origin',
    'Sec-Fetch-Mode': 'cors',
    'Sec-Fetch-Dest': 'empty',
    Referer: `${origin}/`,
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9',
  };
}

/** Milliseconds for set-up times. */
function now(): number {
  return performance.now();
}

interface Settle {
  resolve(ms: number): void;
  reject(error: Error): void;
}

/**
 * One simulated client: the owner of a driver, as the client facade is in a browser. Its
 * callbacks resolve `opened` and report messages and the end.
 */
class Sim implements SimClient, DriverOwner {
  readonly transport: LabTransport;
  readonly opened: Promise<number>;
  readonly url: string;
  readonly options: ResolvedClientOptions;
  readonly io: ClientIo;
  private readonly sim: SimClientOptions;
  private readonly driver: Driver;
  private readonly agent: http.Agent | null;
  private readonly session: ClientHttp2Session | null;
  readonly wire: H2SimWire | null;
  private readonly start = now();
  private settle!: Settle;
  private ended = false;
  /**
   * Real clients arrive at random moments, so their polls are spread over the interval;
   * simulated ones that all connected in the same second would poll in step and see the
   * same latency for every message. This client's random offset into the interval, set
   * when the session opens: short polling waits it before its first poll, interval
   * polling runs its whole clock that late.
   */
  private phase = 0;

  constructor(options: SimClientOptions) {
    this.sim = options;
    this.transport = options.transport;
    this.url = options.url;
    // One transport, no reconnection: a failure ends the simulated client and is counted.
    this.options = resolveClientOptions({ transports: [options.transport], reconnect: false });
    const origin = new URL(options.url).origin;
    const browser = options.headers !== 'minimal';
    if (options.http2) {
      this.agent = null;
      const wire = h2Wire();
      this.wire = wire;
      const target = new URL(options.url);
      const session = http2.connect(target.origin, {
        createConnection: tappedConnection(
          Number(target.port || 443),
          target.hostname,
          (id) => (id === 0 ? wire.connectionUp : wire.up),
          (id) => (id === 0 ? wire.connectionDown : wire.down),
          (counted: ClientWire) => {
            wire.connections++;
            wire.tlsIn = counted.tlsIn;
            wire.tlsOut = counted.tlsOut;
          },
          // The lab's certificate is self-signed, made at its start.
          { rejectUnauthorized: false },
        ),
      });
      session.on('error', (error) => this.end(`HTTP/2 connection failed: ${error.message}`));
      session.on('goaway', () => this.end('HTTP/2 connection ended by the server (GOAWAY)'));
      this.session = session;
      this.io = {
        fetch: options.transport === 'websocket' ? refuseFetch : h2Fetch(session, browser ? origin : null, this),
        // Hotline's WebSocket on a stream of this client's one session (RFC 8441), as a
        // browser opens it on the connection it already has to the origin.
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        webSocketOptions: { http2: { session }, ...(browser ? { headers: browserHeaders(origin, 'upgrade') } : {}) },
        setTimeout,
        clearTimeout,
        now,
        random: Math.random,
      };
    } else {
      this.wire = null;
      this.session = null;
      this.agent = options.transport === 'websocket' ? null : new http.Agent({ keepAlive: true, maxSockets: 6 });
      this.io = {
        fetch: this.agent === null ? refuseFetch : nodeFetch(this.agent, browser ? origin : null, this),
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        webSocketOptions: browser ? { headers: browserHeaders(origin, 'upgrade') } : {},
        setTimeout,
        clearTimeout,
        now,
        random: Math.random,
      };
    }
    this.opened = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.opened.catch(() => {});
    this.driver = createDriver(this, options.transport);
    this.driver.start();
  }

  send(text: string): void {
    if (!this.ended) this.driver.send(outgoing(text));
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.driver.stop();
    this.agent?.destroy();
    this.session?.destroy();
  }

  /** @internal The wait before a poll (see `phase`). */
  pollWait(): number {
    if (this.transport === 'interval-polling') return this.phase;
    const wait = this.phase;
    this.phase = 0;
    return wait;
  }

  driverOpened(driver: Driver): void {
    const handshake = driver.handshake;
    if (handshake !== null && (this.transport === 'polling' || this.transport === 'interval-polling')) {
      this.phase = Math.random() * handshake.interval;
    }
    this.settle.resolve(now() - this.start);
  }

  driverMessage(_driver: Driver, data: string | ArrayBuffer): void {
    if (typeof data === 'string') this.sim.onMessage(data);
  }

  driverFailed(_driver: Driver, error: Error): void {
    this.end(error.message);
  }

  driverClosed(_driver: Driver, code: number, _reason: string, _wasClean: boolean, error?: Error): void {
    this.end(error !== undefined ? error.message : `closed ${code}`);
  }

  driverUpgraded(): void {}

  driverReconnecting(): void {}

  driverResumed(): void {}

  driverError(_driver: Driver, error: Error): void {
    this.end(error.message);
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.settle.reject(new Error(reason));
    this.close();
    this.sim.onClose?.(reason);
  }
}

function refuseFetch(): Promise<ResponseLike> {
  return Promise.reject(new Error('no HTTP requests over WebSocket'));
}

/**
 * A fetch over `node:http` with the client's own agent, adding what a browser adds to
 * the transports' requests (`origin` null: nothing, only what Node adds).
 */
function nodeFetch(agent: http.Agent, origin: string | null, sim: Sim): (url: string, init: RequestLike) => Promise<ResponseLike> {
  const get = origin === null ? null : browserHeaders(origin, 'get');
  const post = origin === null ? null : browserHeaders(origin, 'post');
  return async (url, init) => {
    // Only the polls after the handshake wait: the phase is 0 until then, and always for SSE.
    if (init.method === 'GET') {
      const wait = sim.pollWait();
      if (wait > 0) await delay(wait, init.signal);
    }
    const browser = init.method === 'GET' ? get : post;
    const headers: Record<string, string> = browser === null ? { ...init.headers } : { ...browser, ...init.headers };
    if (init.body !== undefined) headers['Content-Length'] = String(init.body.length);
    return request(agent, url, init.method, headers, init.body, init.signal);
  };
}

function h2Wire(): H2SimWire {
  return {
    up: emptyFrameCounts(),
    down: emptyFrameCounts(),
    connectionUp: emptyFrameCounts(),
    connectionDown: emptyFrameCounts(),
    tlsIn: () => 0,
    tlsOut: () => 0,
    connections: 0,
  };
}

/** RFC 9113 §8.2: field names are lower case in HTTP/2. */
function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** The fetch of `nodeFetch`, as streams of the client's one h2 connection. */
function h2Fetch(session: ClientHttp2Session, origin: string | null, sim: Sim): (url: string, init: RequestLike) => Promise<ResponseLike> {
  const get = origin === null ? {} : lowerCased(browserHeaders(origin, 'get'));
  const post = origin === null ? {} : lowerCased(browserHeaders(origin, 'post'));
  return async (url, init) => {
    if (init.method === 'GET') {
      const wait = sim.pollWait();
      if (wait > 0) await delay(wait, init.signal);
    }
    const target = new URL(url);
    const headers: Record<string, string> = { ...(init.method === 'GET' ? get : post), ...lowerCased(init.headers) };
    if (init.body !== undefined) headers['content-length'] = String(init.body.length);
    return new Promise((resolve, reject) => {
      if (init.signal?.aborted) return reject(abortError());
      let stream: ClientHttp2Stream;
      try {
        stream = session.request({ ':method': init.method, ':path': target.pathname + target.search, ...headers }, { endStream: init.body === undefined });
      } catch (error) {
        return reject(error as Error);
      }
      init.signal?.addEventListener('abort', () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (fields) => resolve(new NodeResponse(stream, Number(fields[':status'] ?? 0), () => stream.readableEnded)));
      stream.on('error', reject);
      if (init.body !== undefined) stream.end(init.body);
    });
  };
}

function abortError(): Error {
  const error = new Error('aborted');
  error.name = 'AbortError';
  return error;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(abortError());
    });
  });
}

/** One HTTP request; resolves at the response's head, its body read as the driver asks. */
function request(
  agent: http.Agent,
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  signal: AbortSignal | undefined,
): Promise<ResponseLike> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const req = http.request(url, { method, agent, headers });
    signal?.addEventListener('abort', () => req.destroy(abortError()));
    req.on('response', (res) => resolve(new NodeResponse(res, res.statusCode ?? 0, () => res.complete)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The parts of a fetch `Response` the drivers read, over a Node response (HTTP/1.1) or stream (HTTP/2). */
class NodeResponse implements ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  private readonly res: Readable;
  /** Whether the whole body arrived (a 'close' before it is an abort). */
  private readonly complete: () => boolean;

  constructor(res: Readable, status: number, complete: () => boolean) {
    this.res = res;
    this.complete = complete;
    this.status = status;
    this.ok = this.status >= 200 && this.status < 300;
  }

  get body(): ReadableStream<Uint8Array> {
    const res = this.res;
    const complete = this.complete;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        res.on('data', (chunk: Buffer) => controller.enqueue(chunk));
        res.on('end', () => controller.close());
        res.on('error', (error) => controller.error(error));
        res.on('close', () => {
          if (!complete()) controller.error(abortError());
        });
      },
      cancel() {
        res.destroy();
      },
    });
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let length = 0;
      this.res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
      });
      this.res.on('end', () => {
        // A buffer of its own: Node's small buffers share a pool, and the caller takes the whole ArrayBuffer.
        const out = new Uint8Array(length);
        let offset = 0;
        for (const chunk of chunks) {
          out.set(chunk, offset);
          offset += chunk.length;
        }
        resolve(out.buffer);
      });
      this.res.on('error', reject);
      this.res.on('close', () => {
        if (!this.complete()) reject(abortError());
      });
    });
  }

  async json(): Promise<unknown> {
    return JSON.parse(new TextDecoder().decode(await this.arrayBuffer()));
  }
}
