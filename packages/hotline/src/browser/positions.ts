/**
 * The universal client's side of the envelope (`protocol/session/envelope.ts`): strips
 * it from every message, keeps the last position seen per topic, drops a publication it
 * has had already (a replay that overlaps what it saw), names the positions on every
 * connection request (`since`), and says what it knows of each topic's continuity.
 *
 * Continuity, per topic:
 * - a server's recovery notice is told as it is (`recovered`, `reason`, `missed`);
 * - a live publication of another epoch than the one known is `recovered: false`,
 *   reason `epoch` (the stream was reset: a failover, a broker restart);
 * - a live publication whose offset jumps past the next one is `recovered: false`,
 *   reason `gap`;
 * - after a notice of `recovered: false` the next publication sets the position
 *   without a second report: the application was told already.
 *
 * No Node built-ins: part of the browser bundle.
 */
import type { StreamPosition } from '../protocol/position.js';
import { ENVELOPE_PARAM, MAX_SINCE_BYTES, SINCE_PARAM, decodeEnvelope, encodeSince } from '../protocol/session/envelope.js';
import type { ClientRecoveryReason } from './events.js';

/** What one message becomes for the application. */
export interface Received {
  /** The message to deliver; undefined for a notice, or a publication seen already. */
  message?: { data: string | ArrayBuffer; topic?: string; position?: StreamPosition };
  /** A recovery event to emit before the message. */
  recovery?: { topic: string; recovered: boolean; reason?: ClientRecoveryReason; epoch: string; offset: number; missed?: number };
}

interface Known {
  epoch: string;
  offset: number;
  /** Set by a `recovered: false` notice: the next publication starts the position over. */
  reset: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class PositionTracker {
  private readonly known = new Map<string, Known>();

  /**
   * The handshake's query parameters: the envelope, and the positions once there are any.
   * A server refuses a `since` over `MAX_SINCE_BYTES`: past it, the topics that have been
   * quiet longest are left out (they reconnect as new), so that the client always gets in.
   */
  params(): Record<string, string> {
    if (this.known.size === 0) return { [ENVELOPE_PARAM]: '1' };
    const positions: Array<[string, StreamPosition]> = [];
    for (const [topic, { epoch, offset }] of this.known) positions.push([topic, { epoch, offset }]);
    let since = encodeSince(positions);
    while (since.length > MAX_SINCE_BYTES && positions.length > 0) {
      // The map is in order of the last publication seen: drop from the quiet end.
      positions.splice(0, Math.max(1, Math.ceil(positions.length / 8)));
      since = encodeSince(positions);
    }
    return positions.length === 0 ? { [ENVELOPE_PARAM]: '1' } : { [ENVELOPE_PARAM]: '1', [SINCE_PARAM]: since };
  }

  /** The last position seen on `topic`. */
  position(topic: string): StreamPosition | undefined {
    const known = this.known.get(topic);
    return known === undefined ? undefined : { epoch: known.epoch, offset: known.offset };
  }

  /** One enveloped message, as the transport gave it. Throws `WireError` on a malformed envelope. */
  receive(data: string | ArrayBuffer): Received {
    const isText = typeof data === 'string';
    // The common case, a message of the server's own for this client: no copy of a string.
    if (isText && data.charCodeAt(0) === 0x6d) return { message: { data: data.slice(1) } };
    const envelope = decodeEnvelope(isText ? encoder.encode(data) : new Uint8Array(data), isText);
    if (envelope.kind === 'message') return { message: { data: isText ? decoder.decode(envelope.data) : copy(envelope.data) } };
    if (envelope.kind === 'recovery') {
      const notice = envelope.notice;
      this.known.delete(notice.topic);
      this.known.set(notice.topic, { epoch: notice.epoch, offset: notice.offset, reset: !notice.recovered });
      return { recovery: { ...notice } };
    }
    const { topic, epoch, offset } = envelope;
    const known = this.known.get(topic);
    if (known !== undefined && known.epoch === epoch && offset <= known.offset) return {};
    const received: Received = {
      message: { data: isText ? decoder.decode(envelope.data) : copy(envelope.data), topic, position: { epoch, offset } },
    };
    if (known !== undefined && !known.reset) {
      if (known.epoch !== epoch) received.recovery = { topic, recovered: false, reason: 'epoch', epoch, offset: offset - 1 };
      else if (offset > known.offset + 1) received.recovery = { topic, recovered: false, reason: 'gap', epoch, offset: offset - 1 };
    }
    // Deleted and set again: the map stays in order of the last publication seen.
    this.known.delete(topic);
    this.known.set(topic, { epoch, offset, reset: false });
    return received;
  }
}

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}
