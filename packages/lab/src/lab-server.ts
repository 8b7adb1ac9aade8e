import { type StaticFile, sendJson, sendNotFound, sendStatic } from './http-answers.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from 'hotline';
import { type Handler, type Peer, type PubSubEngine, type PublishedMessage, UpgradeRejection } from 'hotline';
import { type Chat, createChat } from './chat.js';
import { LabStats } from './lab-stats.js';
import type { PollAnatomy, StatsSnapshot } from './snapshot.js';
import { ReportError, parseLabReport } from './receiver-report.js';
import { isSameOrigin } from './same-origin.js';
import { ChangeBudget } from './change-budget.js';
import { LAB_TRANSPORTS, type LabTransport } from './palette.js';
import { EventStream } from './stream.js';
import { STREAM_LIMITS, serverNow } from './stream-message.js';
import { WireMeter } from './wire-meter.js';
import { Http2WireMeter, pathRequest } from './h2-wire-meter.js';
import { enableLabTransports } from './http-transports.js';

/**
 * The lab server: one port for the page, the browser client, the measured event stream
 * over every transport, the chat, and `/stats`.
 *
 *   /                      the page (dist/web/)
 *   /hotline.js            the browser client
 *   /lab/stream?transport= the measured stream: every transport, same messages
 *   /lab/chat?transport=   the duplex demo
 *   GET  /stats            every counter, as JSON
 *   GET  /lab/clock        the server's clock, for the receivers' offset estimate
 *   /lab/time (WebSocket)  the same, answered per message (finer: no HTTP round trip)
 *   GET|POST /lab/config   stream rate, message size and poll interval (shared)
 *   POST /lab/report       receivers report deliveries and latencies; answers /stats
 *   POST /lab/reset        starts a new counting window (shared)
 *
 * The stream and its counters are one for the whole server: every viewer sees the same
 * numbers, and a change of a control or a reset is every viewer's (the page says so).
 * What protects them: the POSTs and the chat are same-origin only (403 otherwise, see
 * same-origin.ts), their bodies are checked strictly (400 with a short stable message),
 * the settings stay within STREAM_LIMITS, and `hotline serve` listens on 127.0.0.1 unless
 * told otherwise.
 */

export const STREAM_PATH = '/lab/stream';
export const CHAT_PATH = '/lab/chat';
/** A WebSocket that answers each message with the server's clock: round trips of a fraction of a ms. */
export const TIME_PATH = '/lab/time';

export interface LabOptions {
  /** Messages a second on the stream. Default 2. */
  rate?: number;
  /** Bytes per message. Default 128. */
  size?: number;
  /** ms between polls (polling, interval-polling), told to clients. Default 1000. */
  interval?: number;
  /** ms a long poll is held when idle. Default 25,000. */
  hold?: number;
  /** The transports served on the stream route. Default: all five. */
  transports?: readonly LabTransport[];
  /** Start the stream at once. Default true. */
  start?: boolean;
  /** The built page. Default dist/web beside this module's dist/src. */
  webRoot?: string;
  /** Largest number of peers the lab accepts on each route. Default 5,000. */
  maxPeers?: number;
  /** Seed of the stream's random arrivals (see EventStream). Default: unseeded. */
  seed?: number;
  /** Changes (settings, resets) one address may make at once, then one every 2 s. Default 5. */
  changeBurst?: number;
  /**
   * The pub/sub engine of the lab's server, e.g. a connected `RedisEngine` (`hotline serve
   * --redis URL`): the stream's topics then go through the broker. Closed with the lab.
   * Default: the server's in-memory engine.
   */
  engine?: PubSubEngine<PublishedMessage>;
  /**
   * Serve over TLS with this key and certificate (PEM), HTTP/2 and HTTP/1.1 on the same
   * port by ALPN (RFC 7301), WebSocket over HTTP/2 by extended CONNECT (RFC 8441). Its
   * h2 connections are metered by stream (h2-wire-meter.ts). Default: cleartext HTTP/1.1.
   */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** With `tls`: tap the h2 connections to count their frames (default true; the bench's clients count them instead). */
  tapHttp2?: boolean;
}

export interface LabConfig {
  rate: number;
  size: number;
  interval: number;
  hold: number;
  transports: readonly LabTransport[];
  limits: typeof STREAM_LIMITS;
}

export interface Lab {
  readonly server: Server;
  readonly http: http.Server | Http2SecureServer;
  /** The HTTP/2 meter, with `tls`: encrypted bytes and connection-level frames. */
  readonly h2: Http2WireMeter | null;
  readonly stats: LabStats;
  readonly stream: EventStream;
  readonly chat: Chat;
  readonly config: LabConfig;
  /** Peers open on the stream route, per transport. */
  peers(transport: LabTransport): number;
  snapshot(): StatsSnapshot;
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** A report at the highest rate is ~30 KiB a second; a config or a reset a few bytes. */
const MAX_BODY = 256 * 1024;
/** Bounds of the poll interval the page may set (and `hotline serve --interval`). */
export const INTERVAL_LIMITS = { min: 100, max: 10_000 } as const;

/** A request the lab refuses: its status and a short message that never quotes the input. */
class LabRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../web/', import.meta.url));

const STATIC: Record<string, StaticFile> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/lab.js': { file: 'lab.js', type: 'text/javascript; charset=utf-8' },
  '/lab.css': { file: 'lab.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const transports = options.transports ?? LAB_TRANSPORTS;
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  const maxPeers = options.maxPeers ?? 5_000;
  const config: LabConfig = {
    rate: options.rate ?? 2,
    size: options.size ?? 128,
    interval: options.interval ?? 1000,
    hold: options.hold ?? 25_000,
    transports,
    limits: STREAM_LIMITS,
  };

  const server = new Server({ maxConnections: maxPeers * 2 + 100, ...(options.engine !== undefined ? { engine: options.engine } : {}) });
  const meter = new WireMeter(classify, inspect);
  const h2Meter = options.tls === undefined ? null : new Http2WireMeter(meter, (path) => classify(pathRequest(path)));
  const stats = new LabStats(meter, h2Meter);
  const peerCounts = new Map<LabTransport, number>(LAB_TRANSPORTS.map((t) => [t, 0]));
  // Each transport has its own topic, so that each publish can be timed on its own.
  const topic = (t: LabTransport) => `lab/stream/${t}`;
  let rotation = 0;
  const changes = new ChangeBudget(options.changeBurst);
  /** A change of the shared stream or counters, within the address's budget (or 429). */
  function spend(request: IncomingMessage): void {
    if (!changes.take(request.socket.remoteAddress ?? '')) throw new LabRequestError(429, 'too many changes: one every 2 s', { 'Retry-After': '2' });
  }

  const stream = new EventStream({ rate: config.rate, size: config.size, ...(options.seed !== undefined ? { seed: options.seed } : {}) }, (message) => {
    // Rotate who goes first, so that no transport always waits for the others' writes.
    const n = transports.length;
    rotation = (rotation + 1) % n;
    for (let i = 0; i < n; i++) {
      const t = transports[(rotation + i) % n]!;
      if (peerCounts.get(t) === 0) continue;
      const before = process.cpuUsage();
      const reached = server.publish(topic(t), message, false);
      const spent = process.cpuUsage(before);
      stats.addCpu(t, spent.user + spent.system);
      stats.addSent(t, reached);
    }
  });

  const streamHandler: Handler<{ counted: boolean }> = {
    upgrade(request) {
      if (!transports.includes(request.transport as LabTransport)) throw new UpgradeRejection(404, 'transport not served here');
      return { data: { counted: false } };
    },
    open(peer: Peer<{ counted: boolean }>) {
      const t = peer.transport as LabTransport;
      if (!transports.includes(t) || peerCounts.get(t)! >= maxPeers) {
        peer.close(1013, 'the lab is full');
        return;
      }
      peer.data.counted = true;
      peerCounts.set(t, peerCounts.get(t)! + 1);
      peer.subscribe(topic(t));
    },
    close(peer: Peer<{ counted: boolean }>) {
      if (!peer.data.counted) return;
      const t = peer.transport as LabTransport;
      peerCounts.set(t, peerCounts.get(t)! - 1);
    },
  };
  const chat = createChat(server, () => {
    stats.chatMessages++;
  });
  server.route(STREAM_PATH, streamHandler);
  server.route(CHAT_PATH, chat.handler);
  server.route(TIME_PATH, {
    upgrade(request) {
      if (request.transport !== 'websocket') throw new UpgradeRejection(400, 'WebSocket only');
    },
    message(peer, data) {
      if (data.length <= 64) peer.send(`{"id":${JSON.stringify(data.toString('utf8'))},"now":${serverNow()}}`);
    },
  });

  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    handleLabRequest(request, response).catch((error: unknown) => {
      if (response.headersSent) response.destroy();
      else if (error instanceof LabRequestError) sendJson(response, error.status, { error: error.message }, error.headers);
      else if (error instanceof ReportError) sendJson(response, 400, { error: error.message });
      // Anything else is the lab's own fault: said without details (they stay here).
      else sendJson(response, 500, { error: 'internal error' });
    });
  };
  const http1Options = {
    headersTimeout: server.options.handshakeTimeout,
    requestTimeout: 300_000,
    connectionsCheckingInterval: 1000,
    keepAliveTimeout: 65_000,
  };
  const httpServer: http.Server | Http2SecureServer =
    options.tls === undefined
      ? http.createServer(http1Options, onRequest)
      : http2.createSecureServer(
          {
            key: options.tls.key,
            cert: options.tls.cert,
            // ALPN h2 first, http/1.1 for clients that do not speak HTTP/2 (RFC 7301).
            allowHTTP1: true,
            // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 lets a client open a
            // WebSocket as an extended CONNECT stream.
            settings: { enableConnectProtocol: true },
            // Every transport of every viewer on one connection: Node's default of 100
            // concurrent streams would hold back a busy page's polls.
            peerMaxConcurrentStreams: 1000,
          },
          onRequest as unknown as (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void,
        );
  // Node's HTTP/1.1 server under allowHTTP1 reads the same timeouts from the server object.
  if (options.tls !== undefined) Object.assign(httpServer, { headersTimeout: http1Options.headersTimeout, requestTimeout: http1Options.requestTimeout, keepAliveTimeout: http1Options.keepAliveTimeout });
  const transportControl = enableLabTransports(server, { interval: config.interval, hold: config.hold, maxSessions: maxPeers * 2 + 100, transports });
  // Over HTTP/2, `attach` serves the transports' requests through node:http2's
  // compatibility API and WebSocket as extended CONNECT streams (RFC 8441).
  server.attach(httpServer);
  if (h2Meter !== null) {
    h2Meter.attach(httpServer as Http2SecureServer, options.tapHttp2 ?? true);
    meter.attach(httpServer as unknown as http.Server, 'secureConnection');
  } else {
    meter.attach(httpServer as http.Server);
  }
  attributeHandlerCpu(httpServer as http.Server, stats);
  const tcpSockets = httpServer instanceof http.Server ? new Set<Socket>() : trackConnections(httpServer);

  function peers(t: LabTransport): number {
    return peerCounts.get(t) ?? 0;
  }

  function snapshot(): StatsSnapshot {
    return stats.snapshot({
      peers,
      chatPeers: chat.peers,
      stream: { rate: stream.rate, size: stream.size, interval: config.interval, lastSeq: stream.lastSeq },
    });
  }

  function currentConfig(): LabConfig {
    config.rate = stream.rate;
    config.size = stream.size;
    return config;
  }

  async function handleLabRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const pathname = url.split('?', 1)[0]!;
    const method = request.method ?? 'GET';
    if (pathname === '/stats' && (method === 'GET' || method === 'HEAD')) {
      // Same-origin only to a browser (no Access-Control-Allow-Origin): another site's page
      // has no business reading who is connected; scripts and curl read it freely.
      sendJson(response, 200, snapshot());
      return;
    }
    if (method === 'POST' && (pathname === '/lab/config' || pathname === '/lab/report' || pathname === '/lab/reset')) {
      if (!isSameOrigin(request.headers)) {
        request.resume();
        return sendJson(response, 403, { error: 'cross-origin request refused' });
      }
      // Changes come as JSON: a form or a cross-site `fetch` in text/plain cannot send that
      // without a CORS preflight, which this server does not answer.
      if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
        request.resume();
        return sendJson(response, 415, { error: 'send application/json' });
      }
    }
    if (pathname === '/lab/clock') {
      sendJson(response, 200, { now: serverNow() });
      return;
    }
    if (pathname === '/lab/config') {
      if (method === 'POST') {
        const change = parseConfig(await readJson(request));
        spend(request);
        if (change.interval !== undefined) config.interval = change.interval;
        if (change.rate !== undefined || change.size !== undefined) stream.configure(change);
      }
      sendJson(response, 200, currentConfig());
      return;
    }
    if (pathname === '/lab/report' && method === 'POST') {
      // Checked whole before anything is counted: a bad report changes nothing.
      const reports = parseLabReport(await readJson(request));
      const lastSeq = stream.lastSeq;
      for (const [name, report] of Object.entries(reports)) stats.report(name as LabTransport, report!, lastSeq);
      sendJson(response, 200, snapshot());
      return;
    }
    if (pathname === '/lab/reset' && method === 'POST') {
      await readJson(request);
      spend(request);
      stats.reset(stream.lastSeq);
      stream.resetCount();
      chat.reset();
      sendJson(response, 200, snapshot());
      return;
    }
    const entry = STATIC[pathname];
    if (entry !== undefined && (method === 'GET' || method === 'HEAD')) return sendStatic(response, method, webRoot, entry);
    sendNotFound(response);
  }

  /** Which counter a request belongs to: its transport on the stream route, 'chat', or 'lab'. */
  function classify(request: IncomingMessage): string {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname === STREAM_PATH) {
      const t = new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('transport');
      return t !== null && LAB_TRANSPORTS.includes(t as LabTransport) ? t : 'lab';
    }
    if (pathname === CHAT_PATH) return 'chat';
    return 'lab';
  }

  /**
   * An answer to a poll that carried no message. In the polling wire format an empty
   * batch is "<seq>;" (under 20 bytes) while any message makes it longer than the lab's
   * smallest message (48 bytes); a close packet alone is not a message either.
   */
  function inspect(owner: string, response: ServerResponse): void {
    if (owner === 'websocket' || owner === 'sse' || !LAB_TRANSPORTS.includes(owner as LabTransport)) return;
    if (!response.writableFinished || response.req?.method !== 'GET' || response.statusCode !== 200) return;
    const length = Number(response.getHeader('content-length'));
    if (Number.isFinite(length) && length < 20) stats.addEmptyResponse(owner as LabTransport);
    if (owner === 'polling' && Date.now() - lastAnatomy >= 1000) {
      lastAnatomy = Date.now();
      stats.poll = pollAnatomy(response.req, response, Number.isFinite(length) ? length : 0);
    }
  }
  let lastAnatomy = 0;

  let listening = false;
  return {
    server,
    http: httpServer,
    h2: h2Meter,
    stats,
    stream,
    chat,
    get config() {
      return currentConfig();
    },
    peers,
    snapshot,
    async listen(port: number, host?: string): Promise<AddressInfo> {
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen({ port, host, backlog: 4096 }, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      listening = true;
      if (options.start ?? true) stream.start();
      return httpServer.address() as AddressInfo;
    },
    async close(): Promise<void> {
      stream.stop();
      const closed = listening ? new Promise<void>((resolve) => httpServer.close(() => resolve())) : Promise.resolve();
      await transportControl.close();
      await server.close({ timeout: 1000 });
      if (httpServer instanceof http.Server) httpServer.closeAllConnections();
      else for (const socket of tcpSockets) socket.destroy();
      await closed;
    },
  };
}

/** The TCP connections of an HTTP/2 server, to end them on close (it has no `closeAllConnections`). */
function trackConnections(server: Http2SecureServer): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * The live lab runs every transport in one process at once, so the process's CPU time
 * cannot be split by transport. What can be: the synchronous work each transport's
 * requests cause (handshakes, polls, POST bodies) and each transport's share of every
 * publish. Measured around the server's `request` and `upgrade` listeners here, and
 * around each publish in `createLab`. HTTP parsing, garbage collection and timers are
 * left out, so the attributed figure is a lower bound; `bench transports`, which runs one
 * transport at a time, reports the whole process instead.
 */
function attributeHandlerCpu(httpServer: http.Server, stats: LabStats): void {
  for (const event of ['request', 'upgrade'] as const) {
    const listeners = httpServer.listeners(event) as Array<(...args: unknown[]) => void>;
    httpServer.removeAllListeners(event);
    httpServer.on(event, (request: IncomingMessage, ...rest: unknown[]) => {
      const t = transportOf(request);
      const before = t === null ? null : process.cpuUsage();
      for (const listener of listeners) listener.call(httpServer, request, ...rest);
      if (before !== null) {
        const spent = process.cpuUsage(before);
        stats.addCpu(t!, spent.user + spent.system);
      }
    });
  }
}

function transportOf(request: IncomingMessage): LabTransport | null {
  const url = request.url ?? '';
  if (!url.startsWith(STREAM_PATH + '?')) return null;
  const t = new URLSearchParams(url.slice(STREAM_PATH.length + 1)).get('transport');
  return t !== null && LAB_TRANSPORTS.includes(t as LabTransport) ? (t as LabTransport) : null;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length']);
  if (declared > MAX_BODY) {
    request.resume();
    throw new LabRequestError(413, 'body too large');
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_BODY) throw new LabRequestError(413, 'body too large');
    chunks.push(chunk);
  }
  if (length === 0) return null;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new LabRequestError(400, 'malformed JSON');
  }
}

/** The body of `POST /lab/config`: any of rate, size, interval, each within its limits. */
function parseConfig(body: unknown): { rate?: number; size?: number; interval?: number } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new LabRequestError(400, 'expected a JSON object');
  const change: { rate?: number; size?: number; interval?: number } = {};
  for (const [key, value] of Object.entries(body)) {
    const [min, max, integer] =
      key === 'rate' ? [STREAM_LIMITS.minRate, STREAM_LIMITS.maxRate, false]
      : key === 'size' ? [STREAM_LIMITS.minSize, STREAM_LIMITS.maxSize, true]
      : key === 'interval' ? [INTERVAL_LIMITS.min, INTERVAL_LIMITS.max, true]
      : [NaN, NaN, false];
    if (Number.isNaN(min)) throw new LabRequestError(400, 'unknown setting (known: rate, size, interval)');
    if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
      throw new LabRequestError(400, `${key} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    change[key as 'rate' | 'size' | 'interval'] = value;
  }
  return change;
}

/** The bytes of one short poll, piece by piece (see PollAnatomy). */
function pollAnatomy(request: IncomingMessage, response: ServerResponse, bodyBytes: number): PollAnatomy {
  const requestHeaders: Array<[string, number]> = [];
  // RFC 9112 §2.1: request-line CRLF, then each field line CRLF, then an empty line.
  let requestBytes = Buffer.byteLength(`${request.method} ${request.url} HTTP/1.1\r\n`, 'latin1') + 2;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    // HTTP/2's pseudo-header fields (RFC 9113 §8.3) are HTTP/1.1's request line and Host.
    if (raw[i]!.startsWith(':')) {
      if (raw[i] === ':authority') {
        const bytes = Buffer.byteLength(`host: ${raw[i + 1]}\r\n`, 'latin1');
        requestHeaders.push(['host', bytes]);
        requestBytes += bytes;
      }
      continue;
    }
    const bytes = Buffer.byteLength(`${raw[i]}: ${raw[i + 1]}\r\n`, 'latin1');
    requestHeaders.push([raw[i]!.toLowerCase(), bytes]);
    requestBytes += bytes;
  }
  // Node keeps the head it wrote (status line and headers, its own Date, Connection and
  // Keep-Alive included) as a string on the response. Over HTTP/2 there is none: the head
  // is counted as HTTP/1.1 would write it (status line, each field, the empty line), so
  // that the classic arithmetic compares like with like; the h2 wire cost is the frames'.
  const head = (response as unknown as { _header?: unknown })._header;
  if (typeof head !== 'string') {
    let headBytes = Buffer.byteLength(`HTTP/1.1 ${response.statusCode} ${response.statusMessage || 'OK'}\r\n`, 'latin1') + 2;
    for (const [name, value] of Object.entries(response.getHeaders())) {
      for (const one of Array.isArray(value) ? value : [value]) headBytes += Buffer.byteLength(`${name}: ${String(one)}\r\n`, 'latin1');
    }
    return { requestBytes, requestHeaders, responseHeadBytes: headBytes, bodyBytes };
  }
  return { requestBytes, requestHeaders, responseHeadBytes: Buffer.byteLength(head, 'latin1'), bodyBytes };
}
