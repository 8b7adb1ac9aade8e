/**
 * The shapes of what the lab measures, shared by the server (`lab-stats.ts`,
 * `wire-meter.ts`), the bench and the page: types and plain values only, no Node.
 */
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
  /** Sockets accepted whose first request belonged here (TCP connections opened). */
  connections: number;
}

export function emptyCounters(): WireCounters {
  return { bytesIn: 0, bytesOut: 0, requests: 0, upgrades: 0, connections: 0 };
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
  /** How the CPU figure per transport was obtained. */
  cpuAttribution: 'handlers' | 'process';
  transports: Record<LabTransport, TransportSnapshot>;
  /** The duplex demo's traffic, kept apart from the measured stream. */
  chat: WireCounters & { messages: number; peers: number };
  /** The page, bundle and /stats traffic. */
  lab: WireCounters;
}

