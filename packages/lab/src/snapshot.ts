/**
 * The shapes of what the lab measures, shared by the server (`lab-stats.ts`,
 * `wire-meter.ts`), the bench and the page: types and plain values only, no Node.
 */
import type { Histogram, LatencySummary } from './histogram.js';
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

/** What a receiver reports for one transport since its previous report. */
export interface ReceiverReport {
  /** Messages received. */
  delivered: number;
  /** Push latency of each (ms): receipt time minus the server's send time. */
  latencies?: number[];
  /** Or the same as a histogram, when the receiver aggregates (the bench). */
  histogram?: ReturnType<Histogram['toJSON']>;
  /** Messages skipped in the sequence (never received). */
  lost?: number;
  /** Messages received twice. */
  duplicates?: number;
  /** Application payload bytes received. */
  payloadBytes?: number;
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
  /** Messages the server handed to this transport's peers. */
  sent: number;
  /** Server CPU attributed to this transport (ms). */
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

export interface StatsSnapshot {
  /** Server clock (epoch ms) of this snapshot and of the last reset. */
  now: number;
  since: number;
  elapsedSec: number;
  stream: { rate: number; size: number; published: number; interval: number };
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

