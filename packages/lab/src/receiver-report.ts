/**
 * What a receiver (the page) tells the server about the messages it got, checked strictly:
 * anyone who can open the page can post to `/lab/report`, and what it says ends up on
 * every viewer's screen. A report is accepted whole or refused whole with a short, stable
 * message (`ReportError`, answered 400); nothing in it reaches a counter unchecked.
 *
 *     {"transports": {"websocket": {"seqs": [41, 42], "latencies": [0.8, 1.1],
 *                                   "lost": 0, "duplicates": 0, "payloadBytes": 256}}}
 *
 * Deliveries are reported by sequence number so that the server can keep only those of
 * messages published inside its counting window: a report in flight across a reset, or
 * a backlog that a throttled background tab picks up late, is not counted as new.
 */
import { LAB_TRANSPORTS, type LabTransport } from './palette.js';
import { STREAM_LIMITS } from './stream-message.js';

/** One transport's deliveries since the receiver's previous report. */
export interface ReceiverReport {
  /** Sequence numbers of the messages received, each once. */
  seqs: number[];
  /** Push latency of each (ms), in the same order: receipt time minus the server's send time. */
  latencies: number[];
  /** Messages skipped in the sequence of one connection (never received). */
  lost: number;
  /** Messages received a second time (not in `seqs`). */
  duplicates: number;
  /** Application payload bytes of the messages in `seqs`. */
  payloadBytes: number;
}

export type LabReport = Partial<Record<LabTransport, ReceiverReport>>;

/** A report that is not one: answered 400 with `message`, which never quotes the input. */
export class ReportError extends Error {}

/** A page reports every second; at the highest rate that is 200 messages a transport. */
export const MAX_REPORTED_MESSAGES = 20_000;
/** Latencies the lab can show: a clock offset error can make a few slightly negative. */
const MIN_LATENCY_MS = -60_000;
const MAX_LATENCY_MS = 3_600_000;
const FIELDS = new Set(['seqs', 'latencies', 'lost', 'duplicates', 'payloadBytes']);

function fail(message: string): never {
  throw new ReportError(message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) fail(`${name} must be an integer from 0 to ${max}`);
  return value;
}

/** Parses the body of `POST /lab/report`; throws `ReportError` on anything else. */
export function parseLabReport(body: unknown): LabReport {
  if (!isRecord(body) || Object.keys(body).length !== 1 || !isRecord(body.transports)) fail('expected {"transports": {...}}');
  const out: LabReport = {};
  for (const [name, value] of Object.entries(body.transports)) {
    if (!LAB_TRANSPORTS.includes(name as LabTransport)) fail('unknown transport');
    out[name as LabTransport] = parseReceiverReport(value);
  }
  return out;
}

function parseReceiverReport(value: unknown): ReceiverReport {
  if (!isRecord(value)) fail('a transport report must be an object');
  for (const key of Object.keys(value)) if (!FIELDS.has(key)) fail('unknown field in a transport report');
  const { seqs, latencies } = value;
  if (!Array.isArray(seqs) || !Array.isArray(latencies)) fail('seqs and latencies must be arrays');
  if (seqs.length > MAX_REPORTED_MESSAGES) fail(`at most ${MAX_REPORTED_MESSAGES} messages per report`);
  if (latencies.length !== seqs.length) fail('one latency per seq');
  for (let i = 0; i < seqs.length; i++) {
    const seq: unknown = seqs[i];
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) fail('a seq must be a positive integer');
    const latency: unknown = latencies[i];
    if (typeof latency !== 'number' || !(latency >= MIN_LATENCY_MS && latency <= MAX_LATENCY_MS)) {
      fail(`a latency must be a number of ms from ${MIN_LATENCY_MS} to ${MAX_LATENCY_MS}`);
    }
  }
  return {
    seqs: seqs as number[],
    latencies: latencies as number[],
    lost: count(value.lost ?? 0, 'lost', 1_000_000),
    duplicates: count(value.duplicates ?? 0, 'duplicates', 1_000_000),
    // Every message is at most STREAM_LIMITS.maxSize bytes.
    payloadBytes: count(value.payloadBytes ?? 0, 'payloadBytes', seqs.length * STREAM_LIMITS.maxSize),
  };
}
