import { ReadyState } from '../ready-state.js';
import { closePayload } from './wire.js';

/**
 * The server's half of an HTTP session, sans-I/O: what the session owes its client and
 * what it has from it, as numbers and bytes, and the deadlines it lives by. No sockets,
 * responses, timers or clocks: every call that needs the time is handed `now`, as the
 * sweep hands it to its members, so that a test drives the session with a fake clock.
 *
 * Downstream, every packet (text, binary, close) takes the next sequence number and waits
 * in the queue until the client acknowledges it (`ack=N`: it has everything up to N). An
 * acknowledgement frees what it covers and may not name what was never handed to a
 * response: that would let a client free messages it did not read, and tell it where the
 * server is. Whatever a response carried and its client did not acknowledge is carried
 * again by the next one, so a lost response costs nothing but a resend.
 *
 * Upstream, a batch names its first sequence number: numbers already delivered are a
 * resend (a POST whose answer was lost) and are dropped; a batch that starts past the
 * next expected number would leave a hole, and is refused whole.
 *
 * The close packet is encoded once, when the session closes: the queue holds its bytes
 * ("code reason", as a batch carries them) and every encoder writes those.
 */

/** One sequenced packet waiting for its acknowledgement. */
export interface QueuedPacket {
  readonly seq: number;
  readonly kind: 't' | 'b' | 'c';
  /** The payload as a batch carries it: the message's bytes, or the close's "code reason". */
  readonly data: Uint8Array;
  /** What it counts in the outbound budget: payload plus the memory around it. */
  readonly cost: number;
}

/** The limits and durations a session lives by (ms), shared by every session of a server. */
export interface ServerSessionLimits {
  /** Bytes of messages a session holds for its client. */
  readonly maxQueue: number;
  /** Messages a session holds for its client. */
  readonly maxQueueMessages: number;
  /** How long a long-poll is held when there is nothing to send. */
  readonly hold: number;
  /** Between heartbeats on an idle event stream. */
  readonly heartbeat: number;
  /** Without a request (nothing held or streaming) before the session expires. */
  readonly sessionTimeout: number;
  /** For the first request after the handshake. */
  readonly confirmTimeout: number;
  /** For the client to acknowledge a server-sent close. */
  readonly closeTimeout: number;
  /** For a WebSocket being probed to send `upgrade`. */
  readonly probeTimeout: number;
}

/** What an acknowledgement did. */
export const AckOutcome = {
  /** Nothing new: an ack that does not go forward (overlapping polls) changes nothing. */
  NONE: 0,
  /** Packets were freed. */
  FREED: 1,
  /** Packets were freed and the queue is empty after a send was refused or buffered: `drain`. */
  DRAINED: 2,
  /** The client has the server's close packet: the session is over. */
  CLOSED: 3,
  /** The ack names a packet never handed to a response: refused, nothing changed. */
  BEYOND_SENT: 4,
} as const;
export type AckOutcome = (typeof AckOutcome)[keyof typeof AckOutcome];

/** The deadlines `tick` found due, as bits (several may fall in one tick). */
export const SessionDeadline = {
  /** The WebSocket being probed did not upgrade in time. */
  PROBE: 1,
  /** The held long-poll is answered empty. */
  HOLD: 2,
  /** The event stream needs a heartbeat. */
  HEARTBEAT: 4,
  /** The client never acknowledged the server's close: it ends with 1006. */
  CLOSE: 8,
  /** The client is there (a held poll, a stream or a request in progress) at its confirm deadline. */
  CONFIRMED: 16,
  /** The client never came back, or was silent for `sessionTimeout`: it ends with 1006. */
  EXPIRED: 32,
} as const;

/**
 * Memory a queued message costs beyond its payload, counted in the outbound budget. The
 * queue entry: 60 B measured (200,000 entries sharing one payload, Node 20, x64), 64
 * here. A message of its own (`send`) also has a Buffer object around its bytes: 96 B
 * more (156 B measured per 10-byte message, entry included). A publication shares one.
 */
export const ENTRY_BYTES = 64;
export const BUFFER_OBJECT_BYTES = 96;

/** What a message of `length` bytes counts in the budget; `wrapper`: the object around its bytes. */
export function packetCost(length: number, wrapper: number): number {
  return length + ENTRY_BYTES + wrapper;
}

const NO_PACKETS: readonly QueuedPacket[] = [];

export class ServerSession {
  private readonly limits: ServerSessionLimits;
  private state: ReadyState = ReadyState.OPEN;

  /** Unacknowledged packets, in sequence order (consecutive numbers). */
  private queue: QueuedPacket[] = [];
  /** Payload bytes in the queue (`bufferedAmount`). */
  private queuedBytes = 0;
  /** What the queue counts in the outbound budget. */
  private queueCost = 0;
  /** The sequence number the next packet takes. */
  private next = 1;
  /** Highest sequence number the client acknowledged. */
  private acked = 0;
  /** Highest sequence number handed to a response: no ack may go past it. */
  private sent = 0;
  /** Highest upstream sequence number delivered. */
  private received = 0;
  /** A send was refused or left waiting: `drain` is owed once the queue empties. */
  private drainWanted = false;

  /** The server's close packet: its sequence number (0: none), code and reason. */
  private closeSeq = 0;
  private closeCode = 0;
  private closeReason = '';
  private closeDeadline = 0;

  /** Whether a long-poll is held or a stream open: a client that is there. */
  private attached = false;
  /** Requests in progress (POST bodies being read). */
  private active = 0;
  /** When the client was last heard from or answered: the expiry clock. */
  private lastSeen: number;
  private confirmed = false;
  private readonly confirmDeadline: number;
  /** 0 when not armed. */
  private holdDeadline = 0;
  private heartbeatDue = 0;
  private probeDeadline = 0;
  /** A WebSocket carries the session: its deadlines are the socket's. */
  private carried = false;

  constructor(limits: ServerSessionLimits, now: number) {
    this.limits = limits;
    this.lastSeen = now;
    this.confirmDeadline = now + limits.confirmTimeout;
  }

  get readyState(): ReadyState {
    return this.state;
  }

  // ---- Downstream ----------------------------------------------------------------------------

  /** The packets not acknowledged yet, in order. */
  get packets(): readonly QueuedPacket[] {
    return this.queue;
  }

  /** The sequence number of the first packet a batch of the whole queue starts with. */
  get firstSeq(): number {
    return this.queue.length > 0 ? this.queue[0]!.seq : this.next;
  }

  /** The sequence number the next packet takes (where an empty batch starts). */
  get nextSeq(): number {
    return this.next;
  }

  get sentSeq(): number {
    return this.sent;
  }

  get ackedSeq(): number {
    return this.acked;
  }

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  /** What the queue counts in the outbound budget. */
  get cost(): number {
    return this.queueCost;
  }

  /**
   * Whether a message of `length` bytes fits, with `held` more bytes on the client's behalf
   * (written to responses, not taken by the kernel). A message larger than `maxQueue` still
   * fits an empty session: the limit bounds what piles up, not one message. A refusal owes
   * the application a `drain`.
   */
  fits(length: number, held: number): boolean {
    const bytes = this.queuedBytes + held;
    if (this.queue.length < this.limits.maxQueueMessages && !(bytes > 0 && bytes + length > this.limits.maxQueue)) return true;
    this.drainWanted = true;
    return false;
  }

  /** Queues a message; returns its sequence number. Only while OPEN. */
  push(kind: 't' | 'b', data: Uint8Array, cost: number): number {
    const seq = this.next++;
    this.queue.push({ seq, kind, data, cost });
    this.queuedBytes += data.length;
    this.queueCost += cost;
    return seq;
  }

  /** The message was accepted but waits for the client's next request: `drain` when it is taken. */
  wantDrain(): void {
    this.drainWanted = true;
  }

  /** Whether `drain` is owed; clears it. */
  takeDrain(): boolean {
    const wanted = this.drainWanted;
    this.drainWanted = false;
    return wanted;
  }

  /** A response carried the packets up to `seq`. */
  markSent(seq: number): void {
    if (seq > this.sent) this.sent = seq;
  }

  /** Whether `ack` names only what was handed to a response. */
  mayAcknowledge(ack: number): boolean {
    return ack <= this.sent;
  }

  /** The client has everything up to `ack`: frees it. */
  acknowledge(ack: number): AckOutcome {
    if (ack > this.sent) return AckOutcome.BEYOND_SENT;
    if (ack <= this.acked) return AckOutcome.NONE;
    this.acked = ack;
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= ack) {
      const packet = this.queue[n]!;
      this.queuedBytes -= packet.data.length;
      this.queueCost -= packet.cost;
      n++;
    }
    if (n > 0) this.queue.splice(0, n);
    if (this.closeSeq !== 0 && ack >= this.closeSeq) return AckOutcome.CLOSED;
    if (this.queue.length === 0 && this.drainWanted && this.state === ReadyState.OPEN) {
      this.drainWanted = false;
      return AckOutcome.DRAINED;
    }
    return n > 0 ? AckOutcome.FREED : AckOutcome.NONE;
  }

  // ---- Upstream ------------------------------------------------------------------------------

  /** The highest upstream sequence number delivered (what `upgraded R` tells). */
  get receivedSeq(): number {
    return this.received;
  }

  /** Whether a batch starting at `firstSeq` leaves no hole (numbers start at 1). */
  follows(firstSeq: number): boolean {
    return firstSeq >= 1 && firstSeq <= this.received + 1;
  }

  /** Takes upstream packet `seq`; false for a resend of one already delivered. */
  receive(seq: number): boolean {
    if (seq <= this.received) return false;
    this.received = seq;
    return true;
  }

  // ---- Close ---------------------------------------------------------------------------------

  /**
   * Queues the close packet after everything sent so far; the session is CLOSING until the
   * client acknowledges it, or `closeTimeout` passes (`SessionDeadline.CLOSE`).
   */
  close(code: number, reason: string, now: number): void {
    const data = closePayload(code, reason);
    const seq = this.next++;
    const cost = packetCost(data.length, 0);
    this.queue.push({ seq, kind: 'c', data, cost });
    this.queuedBytes += data.length;
    this.queueCost += cost;
    this.state = ReadyState.CLOSING;
    this.closeSeq = seq;
    this.closeCode = code;
    this.closeReason = reason;
    this.closeDeadline = now + this.limits.closeTimeout;
  }

  /** The server's close, once sent: its code and reason are the ones reported. */
  get closing(): boolean {
    return this.closeSeq !== 0;
  }

  get closingCode(): number {
    return this.closeCode;
  }

  get closingReason(): string {
    return this.closeReason;
  }

  /** The sequence number of the server's close packet (0: not closing). */
  get closingSeq(): number {
    return this.closeSeq;
  }

  /** A WebSocket carries the session and runs its closing handshake: only the state is ours. */
  closeCarried(): void {
    this.state = ReadyState.CLOSING;
  }

  /**
   * The session is dropped to free memory: everything queued goes, and what is left is
   * the close packet alone, for whichever response can still carry it.
   */
  evict(code: number, reason: string): void {
    this.queue = [{ seq: this.next++, kind: 'c', data: closePayload(code, reason), cost: 0 }];
    this.queuedBytes = 0;
    this.queueCost = 0;
  }

  /** The session is over: nothing more is sent or received. */
  end(): void {
    this.state = ReadyState.CLOSED;
    this.closeSeq = 0;
    this.queue = NO_PACKETS as QueuedPacket[];
    this.queuedBytes = 0;
    this.queueCost = 0;
    this.attached = false;
    this.probeDeadline = 0;
  }

  /**
   * A WebSocket carries the session from now on: returns the queue, which moves onto it
   * whole, and leaves the deadlines to the socket.
   */
  carry(): readonly QueuedPacket[] {
    const queue = this.queue;
    this.carried = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.queueCost = 0;
    this.attached = false;
    this.probeDeadline = 0;
    return queue;
  }

  get isCarried(): boolean {
    return this.carried;
  }

  // ---- Deadlines -----------------------------------------------------------------------------

  /** A request of the session arrived, or one of its responses was answered. */
  heard(now: number): void {
    this.lastSeen = now;
  }

  /** A request whose answer takes a while (an upstream body) began: the client is there. */
  requestBegan(): void {
    this.active++;
  }

  requestEnded(now: number): void {
    this.active--;
    this.lastSeen = now;
  }

  /** The client came back after the handshake; true the first time. */
  confirm(): boolean {
    if (this.confirmed) return false;
    this.confirmed = true;
    return true;
  }

  get isConfirmed(): boolean {
    return this.confirmed;
  }

  /** A long-poll is held: answered empty at `hold`. */
  holdFrom(now: number): void {
    this.attached = true;
    this.holdDeadline = now + this.limits.hold;
  }

  /** An event stream is open: heartbeats every `heartbeat`. */
  streamFrom(now: number): void {
    this.attached = true;
    this.holdDeadline = 0;
    this.heartbeatDue = now + this.limits.heartbeat;
  }

  /** The held poll was answered or the stream ended: the expiry clock starts. */
  detach(now: number): void {
    this.attached = false;
    this.holdDeadline = 0;
    this.heartbeatDue = 0;
    this.lastSeen = now;
  }

  /** A WebSocket is being probed: it has `probeTimeout` to send `upgrade`. */
  probeFrom(now: number): void {
    this.probeDeadline = now + this.limits.probeTimeout;
  }

  probeEnded(): void {
    this.probeDeadline = 0;
  }

  /**
   * The deadlines due at `now`, as `SessionDeadline` bits; re-arms the heartbeat and
   * disarms the others it reports. A session a WebSocket carries, or one that ended, has
   * none.
   */
  tick(now: number): number {
    if (this.carried || this.state === ReadyState.CLOSED) return 0;
    let due = 0;
    if (this.probeDeadline !== 0 && now >= this.probeDeadline) {
      this.probeDeadline = 0;
      due |= SessionDeadline.PROBE;
    }
    if (this.holdDeadline !== 0 && now >= this.holdDeadline) {
      this.holdDeadline = 0;
      due |= SessionDeadline.HOLD;
    }
    if (this.heartbeatDue !== 0 && now >= this.heartbeatDue) {
      this.heartbeatDue = now + this.limits.heartbeat;
      due |= SessionDeadline.HEARTBEAT;
    }
    // The client never confirmed the close: no closing handshake, as for a WebSocket.
    if (this.closeSeq !== 0 && now >= this.closeDeadline) return due | SessionDeadline.CLOSE;
    const present = this.attached || this.active > 0;
    if (!this.confirmed && now >= this.confirmDeadline) {
      // A stream or poll still open is a client that is there; anything else never came back.
      if (!present) return due | SessionDeadline.EXPIRED;
      this.confirmed = true;
      due |= SessionDeadline.CONFIRMED;
    }
    if (!present && now - this.lastSeen > this.limits.sessionTimeout) due |= SessionDeadline.EXPIRED;
    return due;
  }
}
