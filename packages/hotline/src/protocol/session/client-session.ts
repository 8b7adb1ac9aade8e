/**
 * The client's half of the HTTP session protocol, sans I/O: bytes and clock readings in,
 * decisions out. One core for every client of the protocol (the universal client in
 * `browser/` and the benchmark's simulated clients drive the same one), so that what is
 * measured is what users run.
 *
 *   answers in   → receiveBatch(bytes) / receiveStream(chunk)  → packets to deliver, in order
 *   sends        → send(kind, data) / sendClose(code, reason)  → takeBatch() → body to POST
 *   POST settled → batchAcknowledged() / batchFailed()
 *   time         → pollDelay(), nextTickDelay(), pollTimeout(), ackDelay(), streamTimeout(),
 *                  expiresIn(), retryDelay(ms); `now` is injected
 *   upgrade      → startUpgrade() → receiveUpgradeMessage(text) → upgradeRequest() → resendAfter()
 *
 * Wire formats are those of `wire.ts` and `upgrade-messages.ts`: the same codecs the
 * server uses. No timers, promises or requests here; the clock is injected, so that every
 * decision can be tested with a fake one. The drivers in `browser/` do the I/O around it.
 */
import {
  type Handshake,
  type MessagePacket,
  type Packet,
  SseParser,
  WireError,
  decodeBatch,
  decodeHandshake,
  decodeSseData,
  encodeBatch,
  packetSize,
} from './wire.js';
import { decodeUpgradeMessage, encodeUpgradeMessage } from './upgrade-messages.js';

/** The HTTP transports of a session (WebSocket has no session of its own). */
export type SessionTransport = 'sse' | 'long-polling' | 'polling' | 'interval-polling';

export interface ClientSessionOptions {
  readonly transport: SessionTransport;
  /** ms between polls (polling, interval-polling); undefined: what the handshake says. */
  readonly interval: number | undefined;
  /** ms for the session to open (the handshake answer, or the stream's `session` event). */
  readonly openTimeout: number;
  /** ms a plain (non-held) request may take. */
  readonly requestTimeout: number;
  /** Most polls in flight at once for interval-polling. */
  readonly maxOverlap: number;
  /** Milliseconds on a monotonic clock (`performance.now`, or a fake one in tests). */
  readonly now: () => number;
}

/** Bytes of a batch's `firstSeq;` prefix at most (16 digits and the semicolon), with room to spare. */
const BATCH_HEADER_BYTES = 24;
/** Bytes a close packet's header and code take besides its reason (`c`, length, `:`, code, space). */
const CLOSE_PACKET_BYTES = 16;
/**
 * A held poll answers within `hold`; the network gets this much on top of it before the
 * request counts as lost.
 */
const HOLD_GRACE = 15_000;
/** A stream silent for two heartbeats, and this much more, is dead even if TCP has not noticed. */
const HEARTBEAT_GRACE = 5_000;
/** A retry is scheduled at least this long before the server would forget the session. */
const EXPIRY_MARGIN = 1_000;

interface QueuedPacket {
  readonly seq: number;
  readonly packet: MessagePacket | { readonly kind: 'c'; readonly code: number; readonly reason: string };
  readonly size: number;
}

/** What the client does about a failed request (see `failureAction`). */
export type FailureAction =
  /** The server evicted the session to free memory: 1013, come back later. */
  | 'evicted'
  /** The server does not know the session (expired, or never was): it is lost. */
  | 'lost'
  /** Any other refusal: the session cannot go on. */
  | 'refused'
  /** A network error, a 5xx, 408 or 429: retry with backoff while the session lives. */
  | 'retry';

/**
 * The answer to a failed request, from its HTTP status (0: no answer) and the server's
 * stable error code.
 */
export function failureAction(status: number, code: string): FailureAction {
  if (status === 0 || status >= 500 || status === 408 || status === 429) return 'retry';
  if (code === 'HL_ERR_SESSION_EVICTED') return 'evicted';
  if (status === 410 || code === 'HL_ERR_UNKNOWN_SESSION') return 'lost';
  return 'refused';
}

/** Where a session upgrade stands (see `transports/session-socket.ts` for the exchange). */
export const UpgradePhase = {
  NONE: 0,
  /** `probe` sent over the new WebSocket; HTTP goes on. */
  PROBING: 1,
  /** The probe came back: polls stop, the POST in flight finishes. */
  PAUSING: 2,
  /** `upgrade N` sent: the downstream sequence number is fixed at N. */
  UPGRADING: 3,
  /** `upgraded R` received: the WebSocket carries the session. */
  CARRIER: 4,
} as const;
export type UpgradePhase = (typeof UpgradePhase)[keyof typeof UpgradePhase];

/** The upgrade's next step after a message from the server (see `receiveUpgradeMessage`). */
export type UpgradeStep = 'pause' | 'switch' | 'abandon';

export class ClientSession {
  readonly transport: SessionTransport;
  private readonly options: ClientSessionOptions;
  /** The server's handshake; null until the session opens. */
  handshake: Handshake | null = null;
  /** Highest downstream sequence number delivered: the ack of every request. */
  lastReceived = 0;
  /** Highest ack the server has confirmed receiving (by answering a POST that carried it). */
  lastAckSent = 0;
  /** A close packet was received, or sent and acknowledged, or the session was lost: nothing more is delivered. */
  finished = false;
  /** The close this client queued, if any. */
  closeSent: { readonly code: number; readonly reason: string } | null = null;
  /** Payload bytes queued upstream and not yet acknowledged (`bufferedAmount`). */
  upBytes = 0;
  /** Polls in flight (interval-polling may overlap them). */
  pollsInFlight = 0;
  /** Consecutive failed requests. */
  failures = 0;
  /** Where a session upgrade stands. */
  upgradePhase: UpgradePhase = UpgradePhase.NONE;
  /** The server's `upgraded R`: the last upstream sequence number it has. */
  upgradedAt = 0;
  private up: QueuedPacket[] = [];
  private nextUpSeq = 1;
  /** The body in flight: how many queued packets it holds and the ack it carries (-1: none in flight). */
  private inFlightCount = 0;
  private inFlightAck = -1;
  private lastOk: number;
  private ackPending = false;
  private clockStart = 0;
  private ticks = 0;
  private parser: SseParser | null = null;
  private readonly streamed: Packet[] = [];

  constructor(options: ClientSessionOptions) {
    this.options = options;
    this.transport = options.transport;
    this.lastOk = options.now();
  }

  get sid(): string {
    return this.handshake?.sid ?? '';
  }

  get opened(): boolean {
    return this.handshake !== null;
  }

  /** A POST is in flight. */
  get posting(): boolean {
    return this.inFlightAck !== -1;
  }

  /** The ack a request carries: the last sequence number delivered. */
  get ack(): number {
    return this.lastReceived;
  }

  /** The ack of the POST in flight (its URL names it). */
  get batchAck(): number {
    return this.inFlightAck;
  }

  // ---- Downstream ------------------------------------------------------------------------

  /**
   * A polling answer. Before the session opens it must start with the `o` packet, which
   * is returned first; then each sequenced packet not delivered yet, in order. A close
   * packet ends the session: it is the last packet returned.
   */
  receiveBatch(bytes: Uint8Array): Packet[] {
    const opening = this.handshake === null;
    const batch = decodeBatch(bytes, { allowOpen: opening });
    const packets = batch.packets;
    let firstSeq = batch.firstSeq;
    let start = 0;
    if (opening) {
      const first = packets[0];
      if (first?.kind !== 'o') throw new WireError('handshake answer has no open packet');
      this.open(first.handshake);
      start = 1;
    }
    // Compacted in place: the decoder's array is the answer, with no copy.
    let kept = start;
    for (let i = start; i < packets.length; i++) {
      const packet = packets[i]!;
      if (packet.kind === 'o') throw new WireError('open packet inside a session');
      if (this.accept(firstSeq++)) {
        packets[kept++] = packet;
        if (packet.kind === 'c') this.finished = true;
      }
    }
    packets.length = kept;
    return packets;
  }

  /**
   * Bytes of an SSE stream. The `session` event opens the session (returned as an `o`
   * packet); each message event is one sequenced packet, its `id` the sequence number.
   * The array returned is the session's own, reused by the next call (a stream delivers
   * chunk after chunk: no array per chunk): read it before feeding more.
   */
  receiveStream(chunk: Uint8Array): readonly Packet[] {
    if (this.parser === null) this.parser = new SseParser();
    // The server forgets a session only once no request of it is open: while its stream
    // flows, the session's life counts from the last chunk (a heartbeat included).
    this.lastOk = this.options.now();
    const out = this.streamed;
    out.length = 0;
    for (const event of this.parser.push(chunk)) {
      if (event.type === 'session') {
        // The handshake again on a resumed stream: the session is the same one.
        if (this.handshake === null) {
          const handshake = decodeHandshake(event.data);
          this.open(handshake);
          out.push({ kind: 'o', handshake });
        }
        continue;
      }
      if (event.type !== 'message' || this.handshake === null) continue;
      const seq = Number(event.lastEventId);
      if (!Number.isSafeInteger(seq)) throw new WireError('event without a sequence number');
      const packet = decodeSseData(event.data);
      if (!this.accept(seq)) continue;
      out.push(packet);
      if (packet.kind === 'c') {
        this.finished = true;
        break;
      }
    }
    return out;
  }

  /** A new stream begins (after a break): its bytes start a fresh parse. */
  restartStream(): void {
    this.parser = null;
  }

  private open(handshake: Handshake): void {
    this.handshake = handshake;
    this.lastOk = this.options.now();
  }

  /** Whether the packet numbered `seq` is the next one to deliver. */
  private accept(seq: number): boolean {
    // Once `upgrade N` is sent the last sequence number is fixed: the rest comes over
    // the WebSocket. After a close nothing more is delivered.
    if (this.finished || this.upgradePhase >= UpgradePhase.PAUSING || seq <= this.lastReceived) return false;
    // A gap cannot happen (every answer starts right after our ack); if it did, the next
    // request, naming our ack, brings the missing packets again.
    if (seq !== this.lastReceived + 1) return false;
    this.lastReceived = seq;
    return true;
  }

  // ---- Upstream --------------------------------------------------------------------------

  /**
   * Queues a message. False when it could never fit in a body the server accepts (its
   * `maxBody`): the message is not queued.
   */
  send(kind: 't' | 'b', data: Uint8Array): boolean {
    const size = packetSize(kind, data.length);
    if (size + BATCH_HEADER_BYTES > this.handshake!.maxBody) return false;
    this.up.push({ seq: this.nextUpSeq++, packet: { kind, data }, size });
    this.upBytes += data.length;
    return true;
  }

  /** Queues the close packet: the last upstream packet of the session. */
  sendClose(code: number, reason: string): void {
    this.closeSent = { code, reason };
    this.up.push({ seq: this.nextUpSeq++, packet: { kind: 'c', code, reason }, size: CLOSE_PACKET_BYTES + reason.length * 3 });
  }

  /**
   * The next body to POST, or null (one is in flight, or nothing is due). It holds the
   * queued packets from the oldest unacknowledged one, within the server's `maxBody` and
   * `maxPackets`; with `ackOnly` an empty batch goes out when only an ack is owed (SSE,
   * whose stream carries no acks). Bodies go one at a time, so they arrive in order.
   */
  takeBatch(ackOnly: boolean): Uint8Array | null {
    if (this.inFlightAck !== -1 || this.handshake === null) return null;
    const owed = this.lastReceived > this.lastAckSent;
    if (this.up.length === 0 && !(ackOnly && owed)) return null;
    const { maxBody, maxPackets } = this.handshake;
    const packets: QueuedPacket['packet'][] = [];
    let size = BATCH_HEADER_BYTES;
    for (const item of this.up) {
      if (packets.length > 0 && (size + item.size > maxBody || packets.length >= maxPackets)) break;
      packets.push(item.packet);
      size += item.size;
    }
    this.inFlightCount = packets.length;
    this.inFlightAck = this.lastReceived;
    return encodeBatch(packets.length > 0 ? this.up[0]!.seq : this.nextUpSeq, packets);
  }

  /**
   * The server took the body in flight. True when that was the close packet: the session
   * has ended cleanly.
   */
  batchAcknowledged(): boolean {
    this.lastAckSent = Math.max(this.lastAckSent, this.inFlightAck);
    this.inFlightAck = -1;
    let closed = false;
    for (let i = 0; i < this.inFlightCount; i++) {
      const packet = this.up[i]!.packet;
      if (packet.kind === 'c') closed = true;
      else this.upBytes -= packet.data.length;
    }
    this.up.splice(0, this.inFlightCount);
    this.inFlightCount = 0;
    if (closed) this.finished = true;
    return closed;
  }

  /** The body in flight was lost: its packets stay queued and go again (the server drops repeats). */
  batchFailed(): void {
    this.inFlightAck = -1;
    this.inFlightCount = 0;
  }

  /** The session is over (a close exchanged, or the session lost): nothing more is delivered or sent. */
  end(): void {
    this.finished = true;
  }

  /** Packets queued and not yet acknowledged. */
  get queued(): number {
    return this.up.length;
  }

  /**
   * The ack batch that answers the server's close packet, so that its `close` runs now
   * rather than at its close timeout.
   */
  closeAcknowledgement(): Uint8Array {
    return encodeBatch(this.nextUpSeq, []);
  }

  // ---- Timing ----------------------------------------------------------------------------

  /** ms between polls: the option, else the server's. */
  get interval(): number {
    return this.options.interval ?? this.handshake!.interval;
  }

  /** ms the opening request may take. */
  get openTimeout(): number {
    return this.options.openTimeout;
  }

  /** ms a POST may take. */
  get requestTimeout(): number {
    return this.options.requestTimeout;
  }

  /** ms a poll may take: a held one `hold` and the network's grace, any other the request timeout. */
  pollTimeout(): number {
    if (this.transport === 'long-polling') return this.handshake!.hold + HOLD_GRACE;
    return this.options.requestTimeout;
  }

  /**
   * ms until the next poll of long polling (at once) and short polling (`interval` after
   * each answer).
   */
  pollDelay(): number {
    return this.transport === 'polling' ? this.interval : 0;
  }

  /** Fixed-interval polling: the clock starts now; ticks fall every `interval` from here. */
  startClock(): void {
    this.clockStart = this.options.now();
    this.ticks = 0;
  }

  /**
   * Fixed-interval polling: ms until the next tick, on the clock's own beat whatever the
   * answers and however late the last timer ran (no drift). Ticks a stalled timer missed
   * are skipped, not made up in a burst.
   */
  nextTickDelay(): number {
    const interval = this.interval;
    if (!(interval > 0)) return 0;
    const now = this.options.now();
    let due = this.clockStart + ++this.ticks * interval;
    if (due < now) {
      this.ticks = Math.floor((now - this.clockStart) / interval) + 1;
      due = this.clockStart + this.ticks * interval;
    }
    return due - now;
  }

  /**
   * Interval polling: whether a tick may poll. Overlap is allowed (every answer holds all
   * that is unacknowledged, and duplicates are dropped by sequence number), not without bound;
   * nor during a backoff, nor once an upgrade has begun to settle.
   */
  mayPoll(backingOff: boolean): boolean {
    return (
      !this.finished &&
      !backingOff &&
      this.upgradePhase < UpgradePhase.PAUSING &&
      this.pollsInFlight < this.options.maxOverlap
    );
  }

  /**
   * SSE: a message was delivered. Returns the ms after which to acknowledge (at most one
   * ack per `ackDelay`), or -1 when an ack is already due.
   */
  ackDelay(): number {
    if (this.ackPending) return -1;
    this.ackPending = true;
    return this.handshake!.ackDelay;
  }

  /** The ack's time has come: whether one is still owed. */
  ackDue(): boolean {
    this.ackPending = false;
    return this.lastReceived > this.lastAckSent;
  }

  /** ms an open SSE stream may stay silent before it counts as dead (-1 before the handshake). */
  streamTimeout(): number {
    return this.handshake === null ? -1 : 2 * this.handshake.heartbeat + HEARTBEAT_GRACE;
  }

  /** A request succeeded. True when it ends a break (the session resumed). */
  succeeded(): boolean {
    this.lastOk = this.options.now();
    const resumed = this.failures > 0;
    this.failures = 0;
    return resumed;
  }

  /** A request failed and will be retried: the count of consecutive failures. */
  failed(): number {
    return ++this.failures;
  }

  /** ms until the server forgets the session, counted from the last answer. */
  expiresIn(): number {
    return this.lastOk + (this.handshake?.sessionTimeout ?? 0) - this.options.now();
  }

  /** How long a retry may wait: `delay`, but not past the session's expiry. */
  retryDelay(delay: number): number {
    return Math.min(delay, Math.max(0, this.expiresIn() - EXPIRY_MARGIN));
  }

  // ---- Session upgrade -------------------------------------------------------------------

  /** Begins an upgrade: the text to send once the new WebSocket opens. */
  startUpgrade(): string {
    this.upgradePhase = UpgradePhase.PROBING;
    return encodeUpgradeMessage({ type: 'probe' });
  }

  /**
   * A text frame from the server during the upgrade. `pause`: the probe came back, stop
   * polling and let the POST in flight finish, then send `upgradeRequest()`; `switch`:
   * `upgraded R` arrived, the WebSocket carries the session from now on (send
   * `resendAfter(R)` over it); `abandon`: anything else, back to HTTP.
   */
  receiveUpgradeMessage(text: string): UpgradeStep {
    const message = decodeUpgradeMessage(text);
    if (this.upgradePhase === UpgradePhase.PROBING && message?.type === 'probe') {
      this.upgradePhase = UpgradePhase.PAUSING;
      return 'pause';
    }
    if (this.upgradePhase === UpgradePhase.UPGRADING && message?.type === 'upgraded') {
      this.upgradePhase = UpgradePhase.CARRIER;
      this.upgradedAt = message.seq;
      return 'switch';
    }
    return 'abandon';
  }

  /**
   * Polls have stopped and no POST is in flight: the last sequence numbers are exact.
   * The `upgrade N` message, N the last sequence number received.
   */
  upgradeRequest(): string {
    this.upgradePhase = UpgradePhase.UPGRADING;
    return encodeUpgradeMessage({ type: 'upgrade', seq: this.lastReceived });
  }

  /**
   * The messages the server does not have yet (sequence numbers past `upgradedAt`), to
   * send over the WebSocket, in order; the upstream queue is empty afterwards.
   */
  resendAfter(): MessagePacket[] {
    const out: MessagePacket[] = [];
    for (const item of this.up) if (item.seq > this.upgradedAt && item.packet.kind !== 'c') out.push(item.packet);
    this.up = [];
    this.upBytes = 0;
    this.ackPending = false;
    return out;
  }

  /** The upgrade failed before the switch: HTTP goes on as if nothing happened. */
  abandonUpgrade(): void {
    if (this.upgradePhase !== UpgradePhase.CARRIER) this.upgradePhase = UpgradePhase.NONE;
  }
}
