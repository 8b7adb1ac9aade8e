import { Histogram, type LatencySummary } from './histogram.js';
import { LAB_TRANSPORTS, type LabTransport } from './palette.js';
import type { WireMeter } from './wire-meter.js';
import { type ReceiverReport, type StatsSnapshot, type TrafficCounts, type TransportSnapshot, type WireCounters, emptyCounters } from './snapshot.js';

/**
 * Everything the lab knows about each transport, from two sources:
 * - the server measures what it can see: bytes at its sockets (`WireMeter`), requests,
 *   empty answers to polls, messages handed to each transport, CPU time;
 * - the receivers (the page, or the bench's clients) measure what only they can see:
 *   which messages arrived and how late, and report it back (`report`).
 */

interface Tally {
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  emptyResponses: number;
  payloadBytes: number;
  cpuMicros: number;
  latency: Histogram;
}

function emptyTally(): Tally {
  return { sent: 0, delivered: 0, lost: 0, duplicates: 0, emptyResponses: 0, payloadBytes: 0, cpuMicros: 0, latency: new Histogram() };
}

/** Bounds on one report, so that a bad client cannot make the server do much. */
const MAX_SAMPLES_PER_REPORT = 20_000;

export class LabStats {
  readonly meter: WireMeter;
  private tallies = new Map<LabTransport, Tally>();
  private resetAt = Date.now();
  private cpuAtReset = process.cpuUsage();
  /** 'process' when one transport runs alone (the bench), so the whole process is its. */
  cpuAttribution: 'handlers' | 'process' = 'handlers';
  chatMessages = 0;

  constructor(meter: WireMeter) {
    this.meter = meter;
    for (const t of LAB_TRANSPORTS) this.tallies.set(t, emptyTally());
  }

  private tally(transport: LabTransport): Tally {
    return this.tallies.get(transport)!;
  }

  addSent(transport: LabTransport, count: number): void {
    this.tally(transport).sent += count;
  }

  addEmptyResponse(transport: LabTransport): void {
    this.tally(transport).emptyResponses++;
  }

  addCpu(transport: LabTransport, micros: number): void {
    this.tally(transport).cpuMicros += micros;
  }

  report(transport: LabTransport, report: ReceiverReport): void {
    const tally = this.tally(transport);
    tally.delivered += count(report.delivered);
    tally.lost += count(report.lost);
    tally.duplicates += count(report.duplicates);
    tally.payloadBytes += count(report.payloadBytes);
    if (Array.isArray(report.latencies)) {
      const n = Math.min(report.latencies.length, MAX_SAMPLES_PER_REPORT);
      for (let i = 0; i < n; i++) {
        const v = report.latencies[i];
        if (typeof v === 'number') tally.latency.record(v);
      }
    }
    if (report.histogram !== undefined) tally.latency.merge(Histogram.fromJSON(report.histogram));
  }

  latency(transport: LabTransport): Histogram {
    return this.tally(transport).latency;
  }

  reset(): void {
    for (const t of LAB_TRANSPORTS) this.tallies.set(t, emptyTally());
    this.meter.reset();
    this.chatMessages = 0;
    this.resetAt = Date.now();
    this.cpuAtReset = process.cpuUsage();
  }

  snapshot(context: {
    peers: (t: LabTransport) => number;
    chatPeers: number;
    stream: StatsSnapshot['stream'];
  }): StatsSnapshot {
    this.meter.flush();
    const now = Date.now();
    const elapsedSec = Math.max(0.001, (now - this.resetAt) / 1000);
    const cpu = process.cpuUsage(this.cpuAtReset);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    let attributed = 0;
    const transports = {} as Record<LabTransport, TransportSnapshot>;
    for (const t of LAB_TRANSPORTS) {
      const tally = this.tally(t);
      const wire = this.meter.counters.get(t) ?? emptyCounters();
      const tCpuMs = this.cpuAttribution === 'process' ? cpuMs : tally.cpuMicros / 1000;
      attributed += tally.cpuMicros / 1000;
      const d = tally.delivered;
      const bytes = wire.bytesIn + wire.bytesOut;
      transports[t] = {
        peers: context.peers(t),
        sent: tally.sent,
        delivered: d,
        lost: tally.lost,
        duplicates: tally.duplicates,
        requests: wire.requests,
        emptyResponses: tally.emptyResponses,
        connections: wire.connections,
        bytesIn: wire.bytesIn,
        bytesOut: wire.bytesOut,
        payloadBytes: tally.payloadBytes,
        latencyMs: tally.latency.summary(),
        cpuMs: round3(tCpuMs),
        perMessage: {
          requests: d === 0 ? null : round3(wire.requests / d),
          bytes: d === 0 ? null : round3(bytes / d),
          overheadBytes: d === 0 ? null : round3((bytes - tally.payloadBytes) / d),
          cpuMsPer1000: d === 0 ? null : round3((tCpuMs / d) * 1000),
        },
      };
    }
    const chat = this.meter.counters.get('chat') ?? emptyCounters();
    return {
      now,
      since: this.resetAt,
      elapsedSec: round3(elapsedSec),
      stream: context.stream,
      process: {
        cpuMs: round3(cpuMs),
        cpuPercent: round3((cpuMs / (elapsedSec * 1000)) * 100),
        attributedCpuMs: round3(this.cpuAttribution === 'process' ? cpuMs : attributed),
        rssBytes: process.memoryUsage.rss(),
      },
      cpuAttribution: this.cpuAttribution,
      transports,
      chat: { ...chat, messages: this.chatMessages, peers: context.chatPeers },
      lab: { ...(this.meter.counters.get('lab') ?? emptyCounters()) },
    };
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
