import { type ChildProcess, fork } from 'node:child_process';
import os from 'node:os';
import type { BenchServerConfig, BenchServerSnapshot } from './bench-server.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { STREAM_PATH } from './lab-server.js';
import type { TrafficCounts } from './snapshot.js';
import { LAB_TRANSPORTS, type LabTransport } from './palette.js';
import { type SimClient, connectSim } from './sim-client.js';
import { parseMessage } from './stream-message.js';
import { type FrameCounts, addFrameCounts, emptyFrameCounts } from './h2-frames.js';
import { type Http2Figures, frameBytes, http2Figures } from './snapshot.js';
import { selfSignedCertificate } from './cli/self-signed.js';

/**
 * `hotline bench transports`: for each transport in turn, a fresh server process, N
 * simulated clients in this process, the same event stream, and a measurement window in
 * steady state:
 *
 *   connect N clients → start the stream → warm up → snapshot A → D seconds → snapshot B
 *   → wait until every client has the messages published before B → stop
 *
 * Server counters (requests, bytes at its sockets, CPU time of its process) are B − A.
 * Deliveries and latencies are those of the messages published between A and B, wherever
 * they arrived, so a poll answered just after B still counts for its message. One
 * transport at a time: the server process's CPU time is all that transport's.
 */

export interface BenchOptions {
  clients: number;
  /** Messages a second on the stream. */
  rate: number;
  /** Seconds of measurement. */
  duration: number;
  /** ms between polls (polling, interval-polling). */
  interval: number;
  /** Bytes per message. */
  size: number;
  transports: readonly LabTransport[];
  /** ms a long poll is held when idle. */
  hold?: number;
  /** Request headers of the simulated clients: a browser's (default) or Node's minimum. */
  clientHeaders?: 'browser' | 'minimal';
  /**
   * HTTP/2 over TLS: the server as `hotline serve --http2`, each simulated client on one h2
   * connection of its own (a browser's one per origin), tapped to count its frames.
   */
  http2?: boolean;
  /** Seconds of warm-up before the window (default: 2 s or two poll intervals). */
  warmup?: number;
  onProgress?(progress: BenchProgress): void;
}

export interface BenchProgress {
  transport: LabTransport;
  /** Index of this transport in the run, and how many there are. */
  index: number;
  of: number;
  phase: 'starting' | 'connecting' | 'warming up' | 'measuring' | 'draining' | 'done';
  /** 0..1 within the phase. */
  fraction: number;
  detail: string;
}

export interface TransportResult extends TrafficCounts {
  transport: LabTransport;
  clients: number;
  connected: number;
  failed: number;
  durationSec: number;
  /** Messages published in the window. */
  published: number;
  /** published × connected clients. */
  expected: number;
  setupMs: LatencySummary;
  serverCpuMs: number;
  serverCpuPercent: number;
  serverRssBytes: number;
  /** CPU of the process running the clients: near 100 % means they, not the server, set the pace. */
  clientCpuPercent: number;
  perMessage: {
    requests: number;
    emptyResponses: number;
    bytes: number;
    bytesIn: number;
    bytesOut: number;
    overheadBytes: number;
    serverCpuMsPer1000: number;
  };
  /** Wire bytes per HTTP request (the classic "871 bytes per poll"); 0 for WebSocket. */
  bytesPerRequest: number;
  protocol: 'http/1.1' | 'h2';
  /**
   * Header bytes per request: over HTTP/1.1 the request and response heads of one short
   * poll (polling only, else null); over HTTP/2 the HPACK field blocks of both, per request.
   */
  headerBytesPerRequest: number | null;
  /** Over HTTP/2: what the clients' connections carried in the window; null over HTTP/1.1. */
  http2: Http2BenchFigures | null;
  errors: string[];
}

export interface Http2BenchFigures extends Http2Figures {
  /** Frames of the connections themselves (stream 0, preface): SETTINGS, PING, WINDOW_UPDATE. */
  connectionUp: FrameCounts;
  connectionDown: FrameCounts;
  /** Encrypted bytes at the clients' TCP sockets, both directions, and per delivered message. */
  tlsBytes: number;
  tlsBytesPerMessage: number;
  /** TLS connections the clients opened in all (one each). */
  connections: number;
}

export interface BenchResult {
  startedAt: string;
  command: string;
  options: Omit<BenchOptions, 'onProgress'>;
  machine: { cpu: string; cpus: number; memoryGiB: number; os: string; node: string };
  results: TransportResult[];
}

const CONNECT_CONCURRENCY = 50;

export async function benchTransports(options: BenchOptions, command = ''): Promise<BenchResult> {
  const cpus = os.cpus();
  const result: BenchResult = {
    startedAt: new Date().toISOString(),
    command,
    options: {
      clients: options.clients,
      rate: options.rate,
      duration: options.duration,
      interval: options.interval,
      size: options.size,
      transports: options.transports,
      clientHeaders: options.clientHeaders ?? 'browser',
      ...(options.hold !== undefined ? { hold: options.hold } : {}),
      ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
    },
    machine: {
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      cpus: cpus.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
    },
    results: [],
  };
  if (options.http2) result.options.http2 = true;
  // One certificate for the run, as `serve --http2` makes one at start.
  const tls = options.http2 ? await selfSignedCertificate() : undefined;
  for (let i = 0; i < options.transports.length; i++) {
    result.results.push(await benchOne(options.transports[i]!, i, options, tls));
  }
  return result;
}

/** A server process and a way to ask it things. */
class ServerProcess {
  readonly child: ChildProcess;
  port = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, (answer: any) => void>();
  private readonly ready: Promise<void>;
  private stderr = '';

  constructor(config: BenchServerConfig) {
    this.child = fork(new URL('./bench-server.js', import.meta.url), [], {
      env: { ...process.env, HOTLINE_BENCH_SERVER: JSON.stringify(config) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message: { type?: string; port?: number; id?: number }) => {
        if (message.type === 'ready') {
          this.port = message.port!;
          resolve();
          return;
        }
        const waiter = this.waiting.get(message.id!);
        this.waiting.delete(message.id!);
        waiter?.(message);
      });
      this.child.on('exit', (code) => reject(new Error(`the bench server exited (${code}): ${this.stderr}`)));
    });
    this.ready.catch(() => {});
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  ask<T = Record<string, unknown>>(op: string): Promise<T> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, op }, (error) => {
        if (error) reject(error);
      });
    });
  }

  /** NTP-style: the offset from our clock to the server's, from the round trip with least delay. */
  async clockOffset(samples = 20): Promise<number> {
    let best = { rtt: Infinity, offset: 0 };
    for (let i = 0; i < samples; i++) {
      const t0 = clientNow();
      const { now } = await this.ask<{ now: number }>('clock');
      const t1 = clientNow();
      if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: now - (t0 + t1) / 2 };
    }
    return best.offset;
  }

  async snapshot(): Promise<BenchServerSnapshot> {
    return (await this.ask<{ snapshot: BenchServerSnapshot }>('snapshot')).snapshot;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    try {
      await Promise.race([this.ask('close'), exited]);
    } catch {
      this.child.kill('SIGKILL');
    }
    await exited;
    clearTimeout(timer);
  }
}

function clientNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Every message a client received: its sequence number and its latency. */
class SampleLog {
  seqs = new Float64Array(1024);
  latencies = new Float64Array(1024);
  length = 0;
  duplicates: number[] = [];

  push(seq: number, latency: number): void {
    if (this.length === this.seqs.length) {
      const seqs = new Float64Array(this.length * 2);
      seqs.set(this.seqs);
      this.seqs = seqs;
      const latencies = new Float64Array(this.length * 2);
      latencies.set(this.latencies);
      this.latencies = latencies;
    }
    this.seqs[this.length] = seq;
    this.latencies[this.length] = latency;
    this.length++;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The clients' h2 connections added up (a moment's totals: the window is B − A). */
interface WireTotals {
  up: FrameCounts;
  down: FrameCounts;
  connectionUp: FrameCounts;
  connectionDown: FrameCounts;
  tls: number;
  connections: number;
}

function wireTotals(clients: readonly SimClient[]): WireTotals {
  const totals: WireTotals = { up: emptyFrameCounts(), down: emptyFrameCounts(), connectionUp: emptyFrameCounts(), connectionDown: emptyFrameCounts(), tls: 0, connections: 0 };
  for (const client of clients) {
    const wire = client.wire;
    if (wire === null) continue;
    addFrameCounts(totals.up, wire.up);
    addFrameCounts(totals.down, wire.down);
    addFrameCounts(totals.connectionUp, wire.connectionUp);
    addFrameCounts(totals.connectionDown, wire.connectionDown);
    totals.tls += wire.tlsIn() + wire.tlsOut();
    totals.connections += wire.connections;
  }
  return totals;
}

function minus(b: FrameCounts, a: FrameCounts): FrameCounts {
  const out = emptyFrameCounts();
  for (const key of Object.keys(out) as Array<keyof FrameCounts>) out[key] = b[key] - a[key];
  return out;
}

async function benchOne(transport: LabTransport, index: number, options: BenchOptions, tls?: { key: string; cert: string }): Promise<TransportResult> {
  const of = options.transports.length;
  const progress = (phase: BenchProgress['phase'], fraction: number, detail = '') =>
    options.onProgress?.({ transport, index, of, phase, fraction, detail });
  progress('starting', 0);
  const server = new ServerProcess({
    transport,
    rate: options.rate,
    size: options.size,
    interval: options.interval,
    hold: options.hold ?? 25_000,
    maxPeers: Math.max(options.clients + 10, 100),
    // Every transport meets the same sequence of events.
    seed: 0x4c4142,
    ...(tls !== undefined ? { tls } : {}),
  });
  const clients: SimClient[] = [];
  const errors = new Set<string>();
  try {
    await server.whenReady();
    const offset = await server.clockOffset();
    const url = `${tls !== undefined ? 'https' : 'http'}://127.0.0.1:${server.port}${STREAM_PATH}`;
    const log = new SampleLog();
    const lastSeq = new Int32Array(options.clients);
    let duplicates = 0;
    const setup = new Histogram();
    let connected = 0;
    let failed = 0;

    // Connect in waves: a thousand SYNs at once would measure the listen queue.
    progress('connecting', 0, `0/${options.clients}`);
    for (let start = 0; start < options.clients; start += CONNECT_CONCURRENCY) {
      const wave: Promise<void>[] = [];
      for (let i = start; i < Math.min(options.clients, start + CONNECT_CONCURRENCY); i++) {
        const client = connectSim({
          url,
          transport,
          headers: options.clientHeaders ?? 'browser',
          http2: tls !== undefined,
          onMessage(text) {
            const message = parseMessage(text);
            if (message === null) return;
            if (message.seq <= lastSeq[i]!) {
              duplicates++;
              return;
            }
            lastSeq[i] = message.seq;
            log.push(message.seq, clientNow() + offset - message.t);
          },
          onClose(reason) {
            if (errors.size < 10) errors.add(reason);
          },
        });
        clients.push(client);
        wave.push(
          client.opened.then(
            (ms) => {
              connected++;
              setup.record(ms);
            },
            (error: Error) => {
              failed++;
              if (errors.size < 10) errors.add(error.message);
            },
          ),
        );
      }
      await Promise.all(wave);
      progress('connecting', clients.length / options.clients, `${connected}/${options.clients}`);
    }

    await server.ask('start');
    const warmup = (options.warmup ?? Math.max(2, (2 * options.interval) / 1000)) * 1000;
    await tick(warmup, (f) => progress('warming up', f));

    const a = await server.snapshot();
    const wireA = wireTotals(clients);
    const cpuA = process.cpuUsage();
    const tA = performance.now();
    await tick(options.duration * 1000, (f, left) => progress('measuring', f, `${left.toFixed(0)} s left`));
    const b = await server.snapshot();
    const wireB = wireTotals(clients);
    const cpuB = process.cpuUsage(cpuA);
    const windowMs = performance.now() - tA;

    // Drain: every client should get what was published up to B.
    const drainLimit = Math.max(options.interval * 2, 1000) + 3000;
    const drainStart = performance.now();
    for (;;) {
      let behind = 0;
      for (let i = 0; i < clients.length; i++) if (lastSeq[i]! < b.lastSeq) behind++;
      const waited = performance.now() - drainStart;
      progress('draining', Math.min(1, waited / drainLimit), `${behind} clients behind`);
      if (behind === 0 || waited > drainLimit) break;
      await sleep(100);
    }
    await server.ask('stop');

    const latency = new Histogram();
    let delivered = 0;
    for (let k = 0; k < log.length; k++) {
      const seq = log.seqs[k]!;
      if (seq > a.lastSeq && seq <= b.lastSeq) {
        delivered++;
        latency.record(log.latencies[k]!);
      }
    }
    const published = b.lastSeq - a.lastSeq;
    const expected = published * connected;
    const requests = b.requests - a.requests;
    const emptyResponses = b.emptyResponses - a.emptyResponses;
    // Over HTTP/2 the bytes are the clients' cleartext frames (comparable with HTTP/1.1's
    // cleartext at the server's sockets); the encrypted ones are reported beside them.
    const up = minus(wireB.up, wireA.up);
    const down = minus(wireB.down, wireA.down);
    const connectionUp = minus(wireB.connectionUp, wireA.connectionUp);
    const connectionDown = minus(wireB.connectionDown, wireA.connectionDown);
    const bytesIn = tls !== undefined ? frameBytes(up) + frameBytes(connectionUp) : b.bytesIn - a.bytesIn;
    const bytesOut = tls !== undefined ? frameBytes(down) + frameBytes(connectionDown) : b.bytesOut - a.bytesOut;
    const tlsBytes = wireB.tls - wireA.tls;
    const serverCpuMs = (b.cpuMicros - a.cpuMicros) / 1000;
    const perDelivered = (value: number) => (delivered === 0 ? 0 : value / delivered);
    const windowPayload = delivered * options.size;
    progress('done', 1);
    return {
      transport,
      clients: options.clients,
      connected,
      failed,
      durationSec: round(windowMs / 1000, 3),
      published,
      expected,
      delivered,
      lost: Math.max(0, expected - delivered),
      duplicates,
      requests,
      emptyResponses,
      connections: b.connections - a.connections,
      bytesIn,
      bytesOut,
      payloadBytes: windowPayload,
      latencyMs: latency.summary(),
      setupMs: setup.summary(),
      serverCpuMs: round(serverCpuMs, 3),
      serverCpuPercent: round((serverCpuMs / windowMs) * 100, 1),
      serverRssBytes: b.rssBytes,
      clientCpuPercent: round(((cpuB.user + cpuB.system) / 1000 / windowMs) * 100, 1),
      perMessage: {
        requests: round(perDelivered(requests), 4),
        emptyResponses: round(perDelivered(emptyResponses), 4),
        bytes: round(perDelivered(bytesIn + bytesOut), 1),
        bytesIn: round(perDelivered(bytesIn), 1),
        bytesOut: round(perDelivered(bytesOut), 1),
        overheadBytes: round(perDelivered(bytesIn + bytesOut - windowPayload), 1),
        serverCpuMsPer1000: round(perDelivered(serverCpuMs) * 1000, 3),
      },
      bytesPerRequest: transport === 'websocket' || requests === 0 ? 0 : round((bytesIn + bytesOut) / requests, 1),
      protocol: tls !== undefined ? 'h2' : 'http/1.1',
      headerBytesPerRequest: tls !== undefined ? (requests === 0 ? null : round((up.headerBytes + down.headerBytes) / requests, 1)) : b.pollHeadBytes,
      http2:
        tls === undefined
          ? null
          : {
              ...http2Figures(up, down, requests, delivered),
              connectionUp,
              connectionDown,
              tlsBytes,
              tlsBytesPerMessage: round(perDelivered(tlsBytes), 1),
              connections: wireB.connections,
            },
      errors: [...errors],
    };
  } finally {
    for (const client of clients) client.close();
    await server.close();
  }
}

/** Waits `ms`, reporting progress about four times a second. */
async function tick(ms: number, report: (fraction: number, secondsLeft: number) => void): Promise<void> {
  const start = performance.now();
  for (;;) {
    const elapsed = performance.now() - start;
    report(Math.min(1, elapsed / ms), Math.max(0, (ms - elapsed) / 1000));
    if (elapsed >= ms) return;
    await sleep(Math.min(250, ms - elapsed));
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export { LAB_TRANSPORTS };
