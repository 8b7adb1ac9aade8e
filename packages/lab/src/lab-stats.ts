import { Histogram } from './histogram.js';
import { LAB_TRANSPORTS, type LabTransport } from './palette.js';
import type { WireMeter } from './wire-meter.js';
import type { Http2WireMeter } from './h2-wire-meter.js';
import type { ReceiverReport } from './receiver-report.js';
import { type PollAnatomy, type StatsSnapshot, type TransportSnapshot, emptyCounters, frameBytes, http2Figures } from './snapshot.js';

/**
 * Everything the lab knows about each transport, from two sources:
 * - the server measures what it can see: bytes at its sockets (`WireMeter`), requests,
 *   empty answers to polls, messages handed to each transport, CPU time;
 * - the receivers (the page, or the bench's clients) measure what only they can see:
 *   which messages arrived and how late, and report it back (`report`).
 *
 * Every counter covers one window, from the last `reset` (or the start) on. Its messages
 * are those numbered after `seqAtReset`: a delivery of an older one is not counted, and
 * no transport is credited with more deliveries (or losses) than copies it was sent, so
 * that `delivered + lost ≤ sent` holds at every moment, whatever a receiver reports.
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

export class LabStats {
  readonly meter: WireMeter;
  private tallies = new Map<LabTransport, Tally>();
  private resetAt = Date.now();
  /** The stream's last sequence number when the window began. */
  private seqAtReset = 0;
  private resets = 0;
  /** The last short poll, piece by piece. */
  poll: PollAnatomy | null = null;
  private cpuAtReset = process.cpuUsage();
  /** 'process' when one transport runs alone (the bench), so the whole process is its. */
  cpuAttribution: 'handlers' | 'process' = 'handlers';
  chatMessages = 0;

  readonly h2: Http2WireMeter | null;

  constructor(meter: WireMeter, h2: Http2WireMeter | null = null) {
    this.meter = meter;
    this.h2 = h2;
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

  /**
   * Counts a receiver's report; `lastSeq` is the stream's newest message. Returns how many
   * of the reported deliveries were counted (the others came from before the window).
   */
  report(transport: LabTransport, report: ReceiverReport, lastSeq: number): number {
    const tally = this.tally(transport);
    let counted = 0;
    for (let i = 0; i < report.seqs.length; i++) {
      const seq = report.seqs[i]!;
      if (seq <= this.seqAtReset || seq > lastSeq) continue;
      if (tally.delivered + tally.lost >= tally.sent) break;
      tally.delivered++;
      tally.latency.record(report.latencies[i]!);
      counted++;
    }
    if (counted > 0) tally.payloadBytes += Math.round((report.payloadBytes * counted) / report.seqs.length);
    tally.lost += Math.min(report.lost, tally.sent - tally.delivered - tally.lost);
    tally.duplicates += report.duplicates;
    return counted;
  }

  latency(transport: LabTransport): Histogram {
    return this.tally(transport).latency;
  }

  /** Starts a new window: every counter from zero, and only messages after `lastSeq`. */
  reset(lastSeq: number): void {
    this.seqAtReset = lastSeq;
    this.resets++;
    this.poll = null;
    for (const t of LAB_TRANSPORTS) this.tallies.set(t, emptyTally());
    this.meter.reset();
    this.h2?.reset();
    this.chatMessages = 0;
    this.resetAt = Date.now();
    this.cpuAtReset = process.cpuUsage();
  }

  snapshot(context: {
    peers: (t: LabTransport) => number;
    chatPeers: number;
    stream: { rate: number; size: number; interval: number; lastSeq: number };
  }): StatsSnapshot {
    this.meter.flush();
    this.h2?.flush();
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
      const bytesIn = wire.bytesIn + frameBytes(wire.h2Up);
      const bytesOut = wire.bytesOut + frameBytes(wire.h2Down);
      const bytes = bytesIn + bytesOut;
      transports[t] = {
        peers: context.peers(t),
        sent: tally.sent,
        inFlight: tally.sent - d - tally.lost,
        delivered: d,
        lost: tally.lost,
        duplicates: tally.duplicates,
        requests: wire.requests,
        emptyResponses: tally.emptyResponses,
        connections: wire.connections,
        bytesIn,
        bytesOut,
        payloadBytes: tally.payloadBytes,
        latencyMs: tally.latency.summary(),
        cpuMs: round3(tCpuMs),
        perMessage: {
          requests: d === 0 ? null : round3(wire.requests / d),
          bytes: d === 0 ? null : round3(bytes / d),
          overheadBytes: d === 0 ? null : round3((bytes - tally.payloadBytes) / d),
          cpuMsPer1000: d === 0 ? null : round3((tCpuMs / d) * 1000),
        },
        http2: this.h2 === null ? null : http2Figures(wire.h2Up, wire.h2Down, wire.requests, d),
      };
    }
    const chat = this.meter.counters.get('chat') ?? emptyCounters();
    return {
      now,
      since: this.resetAt,
      elapsedSec: round3(elapsedSec),
      resets: this.resets,
      stream: {
        rate: context.stream.rate,
        size: context.stream.size,
        interval: context.stream.interval,
        published: context.stream.lastSeq - this.seqAtReset,
        firstSeq: this.seqAtReset + 1,
        lastSeq: context.stream.lastSeq,
      },
      poll: this.poll,
      process: {
        cpuMs: round3(cpuMs),
        cpuPercent: round3((cpuMs / (elapsedSec * 1000)) * 100),
        attributedCpuMs: round3(this.cpuAttribution === 'process' ? cpuMs : attributed),
        rssBytes: process.memoryUsage.rss(),
      },
      protocol: this.h2 === null ? 'http/1.1' : 'h2',
      tls: this.h2 === null ? null : { ...this.h2.tls, connectionFrames: { up: { ...this.h2.connectionFrames.up }, down: { ...this.h2.connectionFrames.down } } },
      cpuAttribution: this.cpuAttribution,
      transports,
      chat: { ...chat, messages: this.chatMessages, peers: context.chatPeers },
      lab: { ...(this.meter.counters.get('lab') ?? emptyCounters()) },
    };
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
