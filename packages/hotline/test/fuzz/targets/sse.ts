/**
 * The client's Server-Sent Events parser (`SseParser`) and the packet decoder behind it
 * (`decodeSseData`, `decodeHandshake`), `src/protocol/session/wire.ts`.
 *
 * Input: byte 0 chunking seed, then the bytes of a `text/event-stream` body.
 *
 * Properties:
 * - any chunking (inside CRLF, inside UTF-8 sequences, one byte at a time) gives the
 *   same events and the same `retry`;
 * - the events are those of the WHATWG algorithm (`sse-reference.ts`);
 * - `decodeSseData` and `decodeHandshake` throw nothing but `WireError`;
 * - a packet decoded from a message event, encoded again by the server's encoder
 *   (`ssePacketEvent`) and parsed, is the same packet; base64 has one spelling;
 * - long runs: the stream repeated to about 1 MiB and read 16 KiB at a time parses in
 *   50 ms at most (a line that spans many reads must not be rescanned on each).
 */
import { SseParser, WireError, decodeHandshake, decodeSseData, ssePacketEvent, toBase64, type SseEvent } from '../../../src/protocol/session/wire.js';
import { performance } from 'node:perf_hooks';
import { type Cost, type Target, accepted, chunkings, expectEqual, heapAfterGc, hexOf, text, utf8 } from '../target.js';
import { referenceSse } from './sse-reference.js';

function parse(chunks: readonly Uint8Array[]): { events: SseEvent[]; retry: number } {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  return { events, retry: parser.retry };
}

function checkPacket(event: SseEvent): void {
  const packet = accepted(() => decodeSseData(event.data), WireError, 'decodeSseData throws only WireError');
  if (packet === undefined) return;
  if (packet.kind === 'b') expectEqual(`b${toBase64(packet.data)}`, event.data, 'base64 has one spelling');
  const again = parse([utf8(ssePacketEvent(7, packet))]).events;
  expectEqual(again.length, 1, 'an encoded packet is one event');
  const decoded = decodeSseData(again[0]!.data);
  const show = (p: typeof packet) => (p.kind === 'c' ? p : { kind: p.kind, data: hexOf(p.data) });
  expectEqual(show(decoded), show(packet), 'a packet encoded again decodes the same');
  expectEqual(again[0]!.lastEventId, '7', 'the event id is the sequence number');
}

function run(input: Buffer): void {
  const stream = input.subarray(1);
  let first: ReturnType<typeof parse> | null = null;
  for (const { name, chunks } of chunkings(stream, input[0] ?? 0)) {
    const reading = parse(chunks);
    if (first === null) first = reading;
    else expectEqual(reading, first, `chunking invariance (${name})`);
  }
  expectEqual(first, referenceSse(stream), 'the events of the WHATWG algorithm');
  for (const event of first!.events) {
    if (event.type === 'session') accepted(() => decodeHandshake(event.data), WireError, 'decodeHandshake throws only WireError');
    else if (event.type === 'message') checkPacket(event);
  }
}

/** Network-sized reads: what a fetch body or an http response delivers at a time. */
const READ = 16 * 1024;

/**
 * The stream repeated to about 1 MiB and read 16 KiB at a time, and the same without its
 * line ends (one long line, the worst case for a line buffer); the costlier of the two.
 */
function measure(input: Buffer): Cost | null {
  const stream = input.subarray(1);
  const line = Buffer.from(stream.filter((byte) => byte !== 0x0a && byte !== 0x0d));
  if (line.length === 0) return null;
  const a = measureStream(stream);
  const b = measureStream(line);
  return a.ms >= b.ms ? a : b;
}

function measureStream(stream: Buffer): Cost {
  const big = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / stream.length) }, () => stream));
  let best = Infinity;
  let heap = 0;
  for (let i = 0; i < 3; i++) {
    const before = heapAfterGc();
    const started = performance.now();
    const parser = new SseParser();
    for (let at = 0; at < big.length; at += READ) parser.push(big.subarray(at, at + READ));
    best = Math.min(best, performance.now() - started);
    // What the parser holds between reads (a line not ended yet, the event being built).
    if (i === 0) heap = Math.max(0, heapAfterGc() - before);
    if (parser.retry === -2) break; // keeps `parser` alive until here
  }
  return { ms: best, heapPerByte: heap / big.length, bytes: big.length };
}

const seed = (body: string): Buffer => Buffer.concat([Buffer.from([3]), Buffer.from(body, 'utf8')]);

export const sse: Target = {
  name: 'sse',
  about: 'SseParser: chunking invariance, the WHATWG algorithm, decodeSseData round trip',
  headerBytes: 1,
  maxLength: 2048,
  seeds: () => [
    seed('retry: 3000\nevent: session\ndata: {"sid":"a","transport":"sse","hold":0,"interval":0,"heartbeat":1,"sessionTimeout":1,"maxBody":1,"ackDelay":1}\n\n'),
    seed('id: 1\ndata: thello\ndata: world\n\nid: 2\r\ndata: bAAEC\r\n\r\n:\n\nid: 3\rdata: c1000 bye\r\r'),
    seed('\ufeffid: 4\ndata:j"a\\rb"\n\nid\ndata\n\nid: 5\u0000\ndata: C"1000 \\r"\n\nevent\ndata: té€𝄞\n\n'),
    seed('data: bAA=\n\ndata: bAAA\n\ndata: bAB=\n\ndata: x\n\nretry: 12a\nretry: 0012\ndata: tpartial'),
  ],
  dictionary: ['data:', 'data: ', 'id: ', 'event: ', 'retry: ', 'session', 'message', ':', '\n', '\r', '\r\n', '\n\n', ' ', '\u0000',
    text('\xef\xbb\xbf'), text('\xe2\x82\xac'), text('\xf0\x9f'), text('\xff'), 't', 'b', 'c', 'C', 'j', '"', '\\r', '=', '1000 '],
  run,
  // 50 ms per MiB as for the polling bodies; the parser keeps one unfinished line and
  // event, which may be as large as the stream: twice its size in UTF-16, and then some.
  cost: { maxMs: 50, maxHeapPerByte: 4, measure },
};
