/**
 * The envelope: how a server tells the universal client which messages are publications,
 * and where they stand, on every transport alike. Pure functions over `Uint8Array` and
 * strings: no Node built-ins, so that the browser bundle carries them.
 *
 * A client asks for it in its connection request (the WebSocket handshake, or an HTTP
 * session's handshake) with the query parameter `envelope=1`; the server then prefixes
 * every message it sends that connection with one ASCII byte, and keeps the message's
 * type (Text stays Text, so valid UTF-8 stays valid):
 *
 *     message     := 'm' data                      peer.send: the application's bytes
 *     publication := 'p' offset ' ' epoch ' ' topicLength ':' topic data
 *     recovery    := 'r' JSON                      always Text; see `RecoveryNotice`
 *
 * `offset` and `topicLength` (the topic's UTF-8 byte count) are decimal; `epoch` is
 * base64url. A peer without `envelope=1` (any plain WebSocket client) gets the bare
 * messages, exactly as before.
 *
 * Coming back, the client names what it has seen with `since`: a JSON array of
 * `[topic, epoch, offset]` triples, percent-encoded as a query parameter, at most
 * `MAX_SINCE_BYTES` long. For each topic the server subscribes the peer to, it replays
 * what came after that position (or says why it cannot) before anything live.
 */
import { EPOCH_PATTERN, type RecoveryReason, type StreamPosition, isOffset } from '../position.js';
import { WireError, readDecimal, utf8 as decodeUtf8 } from './wire.js';

export const EnvelopeKind = {
  MESSAGE: 0x6d, // 'm'
  PUBLICATION: 0x70, // 'p'
  RECOVERY: 0x72, // 'r'
} as const;

/** The query parameter that asks for the envelope, and the one that carries positions. */
export const ENVELOPE_PARAM = 'envelope';
export const SINCE_PARAM = 'since';
/** Longest `since` accepted (decoded characters): far more topics than a page follows, well under a URL's limits. */
export const MAX_SINCE_BYTES = 4096;

/**
 * What the server tells a client that came back with a position on `topic`, before it
 * replays: whether everything missed follows (`recovered: true`, `missed` messages), or
 * why not (`reason`). `epoch`/`offset` are the topic's position the replay starts from
 * (recovered) or its current one (not recovered).
 */
export type RecoveryNotice =
  | { readonly topic: string; readonly recovered: true; readonly epoch: string; readonly offset: number; readonly missed: number }
  | { readonly topic: string; readonly recovered: false; readonly reason: RecoveryReason; readonly epoch: string; readonly offset: number };

export type Envelope =
  | { readonly kind: 'message'; readonly data: Uint8Array }
  | { readonly kind: 'publication'; readonly topic: string; readonly epoch: string; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'recovery'; readonly notice: RecoveryNotice };

/** Thrown by the decoders on bad input: the wire's own error (an envelope is part of the session wire). */
export { WireError as EnvelopeError };

const encoder = new TextEncoder();
const SPACE = 0x20;
const COLON = 0x3a;
const MESSAGE_PREFIX = new Uint8Array([EnvelopeKind.MESSAGE]);

/** The one byte that goes before a plain message's bytes. */
export function messagePrefix(): Uint8Array {
  return MESSAGE_PREFIX;
}

/**
 * The header of a publication (everything before its data): built once per publication
 * and shared by every enveloped subscriber.
 */
export function publicationHeader(topic: string, epoch: string, offset: number): Uint8Array {
  const topicBytes = encoder.encode(topic);
  const head = encoder.encode(`p${offset} ${epoch} ${topicBytes.length}:`);
  const out = new Uint8Array(head.length + topicBytes.length);
  out.set(head, 0);
  out.set(topicBytes, head.length);
  return out;
}

/** A recovery notice's whole message (Text). */
export function recoveryMessage(notice: RecoveryNotice): string {
  return `r${JSON.stringify(notice)}`;
}

/** Decodes one enveloped message; `isText` is its WebSocket type. Throws `EnvelopeError` (the `WireError`). */
export function decodeEnvelope(bytes: Uint8Array, isText: boolean): Envelope {
  if (bytes.length === 0) throw new WireError('empty message: no envelope kind');
  const kind = bytes[0];
  if (kind === EnvelopeKind.MESSAGE) return { kind: 'message', data: bytes.subarray(1) };
  if (kind === EnvelopeKind.PUBLICATION) return decodePublication(bytes);
  if (kind === EnvelopeKind.RECOVERY) {
    if (!isText) throw new WireError('a recovery notice must be Text');
    return { kind: 'recovery', notice: parseNotice(decodeUtf8(bytes.subarray(1))) };
  }
  throw new WireError(`unknown envelope kind 0x${kind!.toString(16)}`);
}

function decodePublication(bytes: Uint8Array): Envelope {
  let at = 1;
  const [offset, offsetEnd] = readDecimal(bytes, at, SPACE, 'publication offset');
  at = offsetEnd + 1;
  const epochEnd = bytes.indexOf(SPACE, at);
  if (epochEnd < 0 || epochEnd - at > 32) throw new WireError('publication: malformed epoch');
  const epoch = decodeUtf8(bytes.subarray(at, epochEnd));
  if (!EPOCH_PATTERN.test(epoch)) throw new WireError('publication: malformed epoch');
  const [topicLength, lengthEnd] = readDecimal(bytes, epochEnd + 1, COLON, 'publication topic length');
  const afterLength = lengthEnd + 1;
  if (afterLength + topicLength > bytes.length) throw new WireError('publication: topic overruns the message');
  if (!isOffset(offset)) throw new WireError('publication: offset must be positive');
  const topic = decodeUtf8(bytes.subarray(afterLength, afterLength + topicLength));
  return { kind: 'publication', topic, epoch, offset, data: bytes.subarray(afterLength + topicLength) };
}

const REASONS: ReadonlySet<string> = new Set<RecoveryReason>(['epoch', 'retention', 'ttl']);

function parseNotice(text: string): RecoveryNotice {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WireError('recovery notice: not JSON');
  }
  const notice = value as Record<string, unknown>;
  if (typeof notice !== 'object' || notice === null || typeof notice.topic !== 'string') throw new WireError('recovery notice: no topic');
  if (typeof notice.epoch !== 'string' || !EPOCH_PATTERN.test(notice.epoch)) throw new WireError('recovery notice: malformed epoch');
  if (typeof notice.offset !== 'number' || !Number.isSafeInteger(notice.offset) || notice.offset < 0) throw new WireError('recovery notice: malformed offset');
  if (notice.recovered === true) {
    if (typeof notice.missed !== 'number' || !Number.isSafeInteger(notice.missed) || notice.missed < 0) throw new WireError('recovery notice: malformed missed');
    return { topic: notice.topic, recovered: true, epoch: notice.epoch, offset: notice.offset, missed: notice.missed };
  }
  if (notice.recovered === false && typeof notice.reason === 'string' && REASONS.has(notice.reason)) {
    return { topic: notice.topic, recovered: false, reason: notice.reason as RecoveryReason, epoch: notice.epoch, offset: notice.offset };
  }
  throw new WireError('recovery notice: malformed recovered/reason');
}

/** A client's positions as the `since` query parameter's value (before percent-encoding). */
export function encodeSince(positions: Iterable<readonly [string, StreamPosition]>): string {
  const triples: [string, string, number][] = [];
  for (const [topic, position] of positions) triples.push([topic, position.epoch, position.offset]);
  return JSON.stringify(triples);
}

/**
 * Parses `since` (already percent-decoded, as `URLSearchParams` gives it). Strict: any
 * malformed triple rejects the whole (the server answers 400 `HL_ERR_BAD_SINCE`); a topic
 * named twice keeps its last position.
 */
export function decodeSince(text: string): Map<string, StreamPosition> {
  if (text.length > MAX_SINCE_BYTES) throw new WireError(`since: longer than ${MAX_SINCE_BYTES} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WireError('since: not JSON');
  }
  if (!Array.isArray(value)) throw new WireError('since: not an array of [topic, epoch, offset]');
  const positions = new Map<string, StreamPosition>();
  for (const triple of value) {
    if (!Array.isArray(triple) || triple.length !== 3) throw new WireError('since: each entry is [topic, epoch, offset]');
    const [topic, epoch, offset] = triple as unknown[];
    if (typeof topic !== 'string') throw new WireError('since: a topic is a string');
    if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch)) throw new WireError('since: malformed epoch');
    if (!isOffset(offset) && offset !== 0) throw new WireError('since: an offset is a non-negative integer');
    positions.set(topic, { epoch, offset: offset as number });
  }
  return positions;
}
