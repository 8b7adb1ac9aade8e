/**
 * The shapes of what the lab measures, shared by the server (`lab-stats.ts`,
 * `wire-meter.ts`), the bench and the page: types and plain values only, no Node.
 */
import { type FrameCounts, emptyFrameCounts } from './h2-frames.js';
import type { LatencySummary } from './histogram.js';
import type { LabTransport } from './palette.js';

export interface WireCounters {
  /** Bytes received from clients. */
  bytesIn: number;
  /** Bytes sent to clients. */
  bytesOut: number;
  /** HTTP requests, the WebSocket upgrade request included. */
  requests: number;
  /** Of which WebSocket upgrade requests. */
  upgrades: number;
  /**
   * Sockets accepted whose first request belonged here (TCP connections opened); over
   * HTTP/2, connections that carried at least one of its streams.
   */
  connections: number;
  /**
   * Over HTTP/2 (h2-wire-meter.ts): the frames of its streams, client to server (`up`)
   * and back (`down`), decoded from the cleartext. `bytesIn`/`bytesOut` do not include
   * them: a reader adds `frameBytes(up)`/`frameBytes(down)`.
   */
  h2Up: FrameCounts;
  h2Down: FrameCounts;
}

export function emptyCounters(): WireCounters {
  return { bytesIn: 0, bytesOut: 0, requests: 0, upgrades: 0, connections: 0, h2Up: emptyFrameCounts(), h2Down: emptyFrameCounts() };
}

/** Every byte of a direction's frames: field blocks, payload and framing. */
export function frameBytes(counts: FrameCounts): number {
  return counts.headerBytes + counts.dataBytes + counts.framingBytes;
}

/**
 * What HTTP/2 changes, per transport, from its frames (h2-frames.ts): the HPACK-coded
 * field bytes per request, and what framing each message costs.
 */
export interface Http2Figures {
  /** Frames of its streams, client to server and back. */
  up: FrameCounts;
  down: FrameCounts;
  /** Field block bytes per request, request and response together (HPACK: repeated fields cost an index). */
  headerBytesPerRequest: number | null;
  requestHeaderBytesPerRequest: number | null;
  responseHeaderBytesPerRequest: number | null;
  /** Frames (HEADERS, CONTINUATION, DATA, control frames of its streams) per delivered message, both directions. */
  framesPerMessage: number | null;
  /** Their framing bytes (9 per frame header, padding, RST_STREAM, stream WINDOW_UPDATEs) per delivered message. */
  framingBytesPerMessage: number | null;
}

export function http2Figures(up: FrameCounts, down: FrameCounts, requests: number, delivered: number): Http2Figures {
  const per = (value: number, n: number) => (n === 0 ? null : Math.round((value / n) * 10) / 10);
  return {
    up: { ...up },
    down: { ...down },
    headerBytesPerRequest: per(up.headerBytes + down.headerBytes, requests),
    requestHeaderBytesPerRequest: per(up.headerBytes, requests),
    responseHeaderBytesPerRequest: per(down.headerBytes, requests),
    framesPerMessage: per(up.frames + down.frames, delivered),
    framingBytesPerMessage: per(up.framingBytes + down.framingBytes, delivered),
  };
}

/** What the lab measures of one transport's traffic, live (`/stats`) and in the bench. */
export interface TrafficCounts {
  /** Messages the receivers reported. */
  delivered: number;
  lost: number;
  duplicates: number;
  /** HTTP requests (WebSocket: one upgrade request per connection). */
  requests: number;
  /** Answers to a poll that carried no message: the notes' "useless requests". */
  emptyResponses: number;
  /** TCP connections opened. */
  connections: number;
  bytesIn: number;
  bytesOut: number;
  /** Application payload delivered (what a perfect transport would move). */
  payloadBytes: number;
  latencyMs: LatencySummary;
}

export interface TransportSnapshot extends TrafficCounts {
  /** Peers open on the measured route over this transport. */
  peers: number;
  /**
   * Copies of the window's messages the server handed to this transport's connections
   * (one per connection open at the time). `delivered + lost + inFlight = sent`.
   */
  sent: number;
  /** Sent, neither delivered nor lost yet: waiting for a poll, or on the wire. */
  inFlight: number;
  /**
   * Server CPU of this transport (ms). In the bench (`cpuAttribution: 'process'`) the
   * whole process, which serves this transport alone. In the live lab
   * (`'handlers'`) only the synchronous work inside its publishes and request handlers:
   * a partial figure, NOT comparable across transports (a WebSocket publish writes to the
   * socket at once; a poll's write happens in its request handler; HTTP parsing, GC and
   * timers are counted for no one).
   */
  cpuMs: number;
  /** Derived: per delivered message; null before the first delivery. */
  perMessage: {
    requests: number | null;
    bytes: number | null;
    /** Wire bytes beyond the payload: headers, framing, empty polls. */
    overheadBytes: number | null;
    cpuMsPer1000: number | null;
  };
  /** Over HTTP/2 (`hotline serve --http2`): its frames; null over HTTP/1.1. */
  http2: Http2Figures | null;
}

/**
 * The wire cost of the last short poll, piece by piece, for the classic arithmetic: the
 * request line and each request header, the response head and body.
 */
export interface PollAnatomy {
  /** Request line and headers, as received (the final CRLF included). */
  requestBytes: number;
  /** Each request header: its name and its bytes on the wire ("name: value\r\n"). */
  requestHeaders: Array<[name: string, bytes: number]>;
  /** Status line and response headers, as sent. */
  responseHeadBytes: number;
  /** The response body (an empty batch, or messages). */
  bodyBytes: number;
}

/**
 * Every counter covers one window: from the last reset (or the server's start) to `now`.
 * The window is the server's, shared by every viewer.
 */
export interface StatsSnapshot {
  /** Server clock (epoch ms) of this snapshot and of the window's start. */
  now: number;
  since: number;
  elapsedSec: number;
  /** Resets since the server started (0: the window began with the server). */
  resets: number;
  /**
   * The stream's settings (shared by every viewer) and the window's messages: numbers
   * `firstSeq` to `lastSeq`, `published` of them (0 and firstSeq = lastSeq + 1 before the first).
   */
  stream: { rate: number; size: number; interval: number; published: number; firstSeq: number; lastSeq: number };
  /** The last short poll's bytes, piece by piece; null before the first one. */
  poll: PollAnatomy | null;
  process: {
    cpuMs: number;
    cpuPercent: number;
    /** CPU time that was attributed to a transport (the rest is shared work: parsing, GC, timers). */
    attributedCpuMs: number;
    rssBytes: number;
  };
  /** 'h2' when the lab is served over TLS with HTTP/2 (`--http2`); HTTP/1.1 clients may still connect. */
  protocol: 'http/1.1' | 'h2';
  /**
   * Over TLS: the encrypted bytes of every connection (TLS records, handshakes included),
   * which cannot be split by transport on a shared h2 connection, and the frames of the h2
   * connections themselves (stream 0, preface), shared by every transport on them.
   */
  tls: { bytesIn: number; bytesOut: number; connections: number; h2Connections: number; connectionFrames: { up: FrameCounts; down: FrameCounts } } | null;
  /** How the CPU figure per transport was obtained. */
  cpuAttribution: 'handlers' | 'process';
  transports: Record<LabTransport, TransportSnapshot>;
  /** The duplex demo's traffic, kept apart from the measured stream. */
  chat: WireCounters & { messages: number; peers: number };
  /** The page, bundle and /stats traffic. */
  lab: WireCounters;
}

