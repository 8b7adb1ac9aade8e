import type { ServerResponse } from 'node:http';
import { CloseCode, HotlineError } from '../errors.js';
import { encodeClosePayload } from '../protocol/protocol.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { Publication } from '../websocket/publication.js';
import type { BudgetExhausted, BudgetHolder, ByteBudget } from '../resources/byte-budget.js';
import {
  type Handler,
  type Payload,
  type Peer,
  ReadyState,
  type SendOptions,
  type SendResult,
  type TransportName,
} from '../types.js';
import { toBuffer } from '../websocket/payload.js';
import type { HttpTransportName, ResolvedHttpTransportOptions } from './options.js';
import type { CarriedSession, SessionSocket } from './session-socket.js';
import { stalled, watchProgress } from './unread.js';
import { encodeUpgradeMessage } from '../protocol/session/upgrade-messages.js';
import {
  type Handshake,
  batchParts,
  closePayload,
  type MessagePacket,
  type Packet,
  sseCloseData,
  sseEvent,
  sseTextData,
  SSE_HEARTBEAT,
} from '../protocol/session/wire.js';

/**
 * An HTTP client made into a peer. The session owns an outbound queue of sequenced
 * messages: every poll (or SSE reconnection) names the last sequence number the client
 * received, the session frees what is acknowledged and (re)sends everything after it, so a
 * lost response is sent again and the client drops what it already has. Upstream
 * messages arrive by POST with their own sequence numbers, delivered once and in order.
 *
 * What a client does not read stays bounded: a response is written only as fast as its
 * socket takes it, an acknowledgement frees only what was handed to a response, a session
 * has one stream and one unread answer at a time, and everything it holds (queue, entries,
 * bytes waiting in its responses) is its share of the server's outbound budget.
 *
 * No timers and no emitters here: the registry's sweep calls `sweep(now)` on every tick.
 */

/** One queued outbound packet. */
export interface Queued {
  readonly seq: number;
  readonly kind: 't' | 'b' | 'c';
  readonly data: Buffer;
  /** What it counts in the outbound budget: payload plus the memory around it. */
  readonly cost: number;
}

/** Why a session ended, for the answer a late request gets (410). */
export type EndReason = 'closed' | 'expired' | 'evicted';

/** What the session needs from its registry. */
export interface SessionHost {
  readonly options: ResolvedHttpTransportOptions;
  /** The shared coarse clock. */
  now(): number;
  /** Server close timeout: how long a server-sent close waits for the client's ack. */
  readonly closeTimeout: number;
  /** Server handshake timeout: how long a WebSocket may probe before it upgrades. */
  readonly handshakeTimeout: number;
  /** Most bytes a WebSocket may buffer: an upgrade moves the queue onto one. */
  readonly maxBufferedAmount: number;
  /** The server's budget of bytes queued for every peer (`maxOutboundBytes`). */
  readonly outbound: ByteBudget;
  subscribe(session: HttpSession, topic: string): void;
  unsubscribe(session: HttpSession, topic: string): void;
  isSubscribed(session: HttpSession, topic: string): boolean;
  topicsOf(session: HttpSession): string[];
  publish(topic: string, data: Payload, isBinary: boolean | undefined, except: Subscriber): void;
  /** The session made its first request after the handshake. */
  sessionConfirmed(session: HttpSession): void;
  /** The session ended: forget it (and remember why, for late requests). */
  sessionEnded(session: HttpSession, why: EndReason): void;
}

/**
 * Memory a queued message costs beyond its payload, counted in the outbound budget. The
 * queue entry: 60 B measured (200,000 entries sharing one payload, Node 20, x64), 64
 * here. A message of its own (`send`) also has a Buffer object around its bytes: 96 B
 * more (156 B measured per 10-byte message, entry included). A publication shares one.
 */
const ENTRY_BYTES = 64;
const BUFFER_OBJECT_BYTES = 96;

let nextId = 0;
const kSession = Symbol('hotline.session');
type OwnedResponse = ServerResponse & { [kSession]?: HttpSession };

const EMPTY: readonly Queued[] = [];

export class HttpSession<D = unknown> implements Peer<D>, Subscriber, CarriedSession, BudgetHolder {
  readonly id: string;
  readonly sid: string;
  /** The HTTP transport the session started on. */
  readonly httpTransport: HttpTransportName;
  data: D;
  readonly remoteAddress: string;
  readonly protocol = '';
  readonly extensions = '';
  /** The request path the session was created on: other paths do not know it. */
  readonly path: string;
  /** @internal Who it belongs to, for the limits per client (`sessionKey`). */
  readonly key: string;

  private state: ReadyState = ReadyState.OPEN;
  private readonly handler: Handler<D>;
  private readonly host: SessionHost;

  /** Unacknowledged outbound packets, in sequence order (consecutive numbers). */
  private queue: Queued[] = [];
  /** Payload bytes in the queue (`bufferedAmount`). */
  private queuedBytes = 0;
  /** What the queue counts in the outbound budget. */
  private queueCost = 0;
  private nextSeq = 1;
  /** Highest sequence number the client acknowledged. */
  private acked = 0;
  /** Highest sequence number handed to a response: no ack may go past it. */
  private sent = 0;
  /** Highest upstream sequence number delivered to the handler. */
  private received = 0;
  /** SSE: highest sequence number written to the current stream. */
  private streamed = 0;

  /** The long-poll being held, and when to answer it empty. */
  private held: ServerResponse | null = null;
  private holdDeadline = 0;
  /** The SSE stream, and when its next heartbeat is due. */
  private stream: ServerResponse | null = null;
  private heartbeatDue = 0;
  /** Poll answers written and not yet taken whole by the kernel. */
  private answers: ServerResponse[] = [];
  /** Requests in progress (polls being answered, POST bodies being read). */
  private active = 0;
  /** When the client was last heard from or answered: the expiry clock. */
  private lastSeen: number;
  /** Whether the client came back after the handshake; until when it may. */
  private confirmed = false;
  private readonly confirmDeadline: number;

  /** After an upgrade, the WebSocket that carries the session; before, one being probed. */
  private carrier: SessionSocket | null = null;
  private probe: SessionSocket | null = null;
  private probeDeadline = 0;

  private flushScheduled = false;
  private drainWanted = false;
  /** A server-sent close waiting for the client: its sequence number and deadline. */
  private closing: { seq: number; code: number; reason: string; deadline: number } | null = null;

  constructor(
    sid: string,
    transport: HttpTransportName,
    path: string,
    remoteAddress: string,
    key: string,
    handler: Handler<D>,
    data: D,
    host: SessionHost,
  ) {
    this.id = 'h' + (++nextId).toString(36);
    this.sid = sid;
    this.httpTransport = transport;
    this.path = path;
    this.remoteAddress = remoteAddress;
    this.key = key;
    this.handler = handler;
    this.data = data;
    this.host = host;
    this.lastSeen = host.now();
    this.confirmDeadline = Date.now() + host.options.confirmTimeout;
  }

  // ---- Peer --------------------------------------------------------------------------------

  get readyState(): ReadyState {
    return this.state;
  }

  /** The HTTP transport, or `websocket` once the session was upgraded. */
  get transport(): TransportName {
    return this.carrier !== null ? 'websocket' : this.httpTransport;
  }

  /**
   * Bytes of messages accepted by `send` and not yet acknowledged by the client (after
   * an upgrade: not yet handed to the kernel, as for any WebSocket).
   */
  get bufferedAmount(): number {
    return this.carrier !== null ? this.carrier.bufferedAmount : this.queuedBytes;
  }

  send(data: Payload, isBinary?: boolean, _options?: SendOptions): SendResult {
    return this.enqueue(toBuffer(data), isBinary ?? typeof data !== 'string', BUFFER_OBJECT_BYTES);
  }

  /**
   * @internal Subscriber: queues a reference to the published bytes, never a copy; once
   * upgraded, shares the publication's WebSocket frame like any WebSocket peer. Returns
   * what happened to the message: `dropped` when it was refused.
   */
  deliver(publication: Publication): SendResult {
    if (this.carrier !== null) return this.state === ReadyState.OPEN ? this.carrier.sendShared(publication) : 'dropped';
    return this.enqueue(publication.data, publication.isBinary, 0);
  }

  private enqueue(data: Buffer, isBinary: boolean, wrapper: number): SendResult {
    if (this.state !== ReadyState.OPEN) return 'dropped';
    if (this.carrier !== null) return this.carrier.sendData(data, isBinary, undefined);
    const { maxQueue, maxQueueMessages } = this.host.options;
    // The stated policy when full: refuse the new message (as a WebSocket peer does over
    // maxBufferedAmount), keep everything queued, and fire `drain` once there is room.
    // What the responses hold for the client counts too: it is memory on its behalf.
    const responseBytes = this.responseBytes();
    const held = this.queuedBytes + responseBytes;
    if (this.queue.length >= maxQueueMessages || (held > 0 && held + data.length > maxQueue)) {
      this.drainWanted = true;
      return 'dropped';
    }
    const cost = data.length + ENTRY_BYTES + wrapper;
    // The server-wide budget: room is made by closing larger holders, or this is refused.
    if (!this.host.outbound.set(this, this.queueCost + cost + responseBytes)) {
      this.drainWanted = true;
      return 'dropped';
    }
    this.push(isBinary ? 'b' : 't', data, cost);
    const stream = this.stream;
    if (this.held !== null || (stream !== null && !stream.writableNeedDrain)) {
      this.scheduleFlush();
      return 'sent';
    }
    if (stream !== null) this.scheduleFlush();
    this.drainWanted = true;
    return 'buffered';
  }

  private push(kind: Queued['kind'], data: Buffer, cost: number): number {
    const seq = this.nextSeq++;
    this.queue.push({ seq, kind, data, cost });
    this.queuedBytes += data.length;
    this.queueCost += cost;
    return seq;
  }

  /**
   * Ends the session: the client receives a close packet with `code` and `reason` on its
   * next poll (or at once on a held poll or stream); `close` reaches the handler when the
   * client has it (acknowledged, or its stream closed after it), or after the server's
   * close timeout with 1006. Same validation as a WebSocket close (RFC 6455 §7.4, a
   * reason of at most 123 bytes).
   */
  close(code: number = CloseCode.NO_STATUS, reason = ''): void {
    if (this.state !== ReadyState.OPEN) return;
    encodeClosePayload(code, reason); // throws HL_ERR_INVALID_ARGUMENT like WebSocket
    this.state = ReadyState.CLOSING;
    if (this.carrier !== null) {
      // A WebSocket closing handshake; `close` reaches the handler when it completes.
      this.carrier.close(code, reason);
      return;
    }
    const data = Buffer.from(closePayload(code, reason));
    const seq = this.push('c', data, data.length + ENTRY_BYTES);
    this.updateReservation();
    this.closing = { seq, code, reason, deadline: Date.now() + this.host.closeTimeout };
    this.scheduleFlush();
  }

  /** Ends the session at once: no close packet; `close` reaches the handler with 1006. */
  terminate(): void {
    if (this.state === ReadyState.CLOSED) return;
    this.carrier?.terminate();
    this.finish(CloseCode.ABNORMAL, '', 'closed', null);
  }

  subscribe(topic: string): void {
    if (this.state !== ReadyState.OPEN) return;
    this.host.subscribe(this, topic);
  }

  unsubscribe(topic: string): void {
    this.host.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.host.isSubscribed(this, topic);
  }

  get topics(): readonly string[] {
    return this.host.topicsOf(this);
  }

  publish(topic: string, data: Payload, isBinary?: boolean): void {
    this.host.publish(topic, data, isBinary, this);
  }

  // ---- The outbound budget (BudgetHolder) -------------------------------------------------

  /**
   * @internal The server needs the memory this session holds: it is closed with 1013
   * (Try Again Later, RFC 6455 §7.4.1) and its queue freed at once. A held poll or an idle
   * stream still carries the close packet (a few bytes); the hooks run after the budget
   * is done (not inside whichever send made room).
   */
  evict(reason: BudgetExhausted): void {
    if (this.state === ReadyState.CLOSED) {
      this.host.outbound.release(this);
      return;
    }
    if (this.carrier === null) {
      const code = CloseCode.TRY_AGAIN_LATER;
      const data = Buffer.from(closePayload(code, EVICTED_REASON));
      this.queue = [{ seq: this.nextSeq++, kind: 'c', data, cost: 0 }];
      const held = this.held;
      if (held !== null) {
        this.held = null;
        held.off('close', onHeldClose);
        this.writeBatch(held, this.queue);
      }
      const stream = this.stream;
      if (stream !== null && stream.writableLength === 0) this.writeStream(stream, this.queue, 0);
    }
    const error = new HotlineError('HL_ERR_BUFFER_FULL', `${reason.budget} is exhausted: the session was closed to make room`);
    this.finish(CloseCode.TRY_AGAIN_LATER, EVICTED_REASON, 'evicted', error);
  }

  /** Bytes waiting in this session's responses for the kernel to take them. */
  private responseBytes(): number {
    let bytes = this.stream?.writableLength ?? 0;
    for (let i = 0; i < this.answers.length; i++) bytes += this.answers[i]!.writableLength;
    return bytes;
  }

  /** States what the session holds now. Growth from responses is not refused: it happened. */
  private updateReservation(): void {
    if (this.state === ReadyState.CLOSED || this.carrier !== null) this.host.outbound.release(this);
    else this.host.outbound.set(this, this.queueCost + this.responseBytes());
  }

  // ---- Requests (called by the registry) -----------------------------------------------

  /** @internal Runs `open`; an `open` that throws (or rejects) closes this session alone with 1011. */
  start(): void {
    this.safely(callOpen, undefined);
  }

  /** @internal A request of this session arrived. */
  touch(): void {
    this.lastSeen = this.host.now();
  }

  /** @internal The client came back after the handshake: the session is no longer a guess. */
  confirm(): void {
    if (this.confirmed) return;
    this.confirmed = true;
    this.host.sessionConfirmed(this);
  }

  /** @internal Whether the client came back after the handshake. */
  get isConfirmed(): boolean {
    return this.confirmed;
  }

  /** @internal The highest sequence number handed to a response (an ack may not exceed it). */
  get sentSeq(): number {
    return this.sent;
  }

  /**
   * @internal The client has everything up to `ack` (at most `sentSeq`): free it. Acks
   * that go backwards (overlapping fixed-interval polls) change nothing.
   */
  acknowledge(ack: number): void {
    if (ack <= this.acked) return;
    this.acked = ack;
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= ack) {
      const item = this.queue[n]!;
      this.queuedBytes -= item.data.length;
      this.queueCost -= item.cost;
      n++;
    }
    if (n > 0) this.queue.splice(0, n);
    if (this.closing !== null && ack >= this.closing.seq) {
      this.finish(this.closing.code, this.closing.reason, 'closed', null);
      return;
    }
    this.updateReservation();
    if (this.queue.length === 0 && this.drainWanted && this.state === ReadyState.OPEN) {
      this.drainWanted = false;
      this.safely(callDrain, undefined);
    }
  }

  /**
   * @internal Answers a poll now with everything unacknowledged (maybe nothing). One
   * unread answer per session: copies of the queue for connections that poll and do not
   * read would multiply it. Fixed-interval polls overlap by design, so one that comes
   * while an earlier answer is still on its way gets an empty answer (the next tick
   * gets the rest); any other client polls again only once it read its last answer or
   * gave up on it, so what is left of that one is destroyed (see `poll`).
   */
  answerPoll(response: ServerResponse, open?: Handshake): void {
    if (open === undefined && this.answerUnread) this.writeBatch(response, EMPTY);
    else this.writeBatch(response, this.queue, open);
  }

  /**
   * @internal A poll arrived (not a fixed-interval one): an earlier answer still unread
   * will never be read — the client reads an answer whole before it polls again, or
   * abandoned the request — and goes now, with its bytes.
   */
  supersedeAnswers(): void {
    if (this.answers.length === 0) return;
    destroyUnread(this.answers);
    this.updateReservation();
  }

  /** @internal Whether a poll would find anything to carry. */
  get hasPending(): boolean {
    return this.queue.length > 0;
  }

  /** @internal Whether an earlier answer still holds bytes its client has not taken. */
  get answerUnread(): boolean {
    for (let i = 0; i < this.answers.length; i++) if (this.answers[i]!.writableLength > 0) return true;
    return false;
  }

  /** @internal A long-poll is held. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** @internal Holds a long-poll until something can be sent or `hold` ms pass. */
  hold(response: ServerResponse): void {
    this.held = response;
    this.holdDeadline = this.host.now() + this.host.options.hold;
    (response as OwnedResponse)[kSession] = this;
    response.on('close', onHeldClose);
  }

  /**
   * @internal Starts (or replaces) the SSE stream and writes everything unacknowledged to
   * it, as fast as its socket takes it. One stream per session: a client that reconnects
   * replaces its old stream, which is destroyed — the old TCP connection may be half dead,
   * and what it did not send would otherwise stay in memory with it.
   */
  openStream(response: ServerResponse, open: Handshake | undefined, retry: number): void {
    const old = this.stream;
    if (old !== null) {
      this.stream = null;
      old.off('close', onStreamClose);
      old.off('drain', onStreamDrain);
      old.destroy();
    }
    this.stream = response;
    (response as OwnedResponse)[kSession] = this;
    response.on('close', onStreamClose);
    response.on('drain', onStreamDrain);
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      // no-transform: a proxy that compresses or buffers would hold events back.
      'Cache-Control': 'no-store, no-transform',
      // nginx buffers proxied responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    response.socket?.setNoDelay(true);
    const head = open !== undefined ? `retry: ${retry}\nevent: session\ndata: ${JSON.stringify(open)}\n\n` : `retry: ${retry}\n\n`;
    this.streamed = this.acked;
    this.heartbeatDue = this.host.now() + this.host.options.heartbeat;
    response.write(head);
    watchProgress(response, this.host.now());
    this.pump();
  }

  /** @internal Upstream packets from a POST, already decoded and checked for gaps. */
  receive(firstSeq: number, packets: readonly Packet[]): void {
    for (let i = 0; i < packets.length; i++) {
      const seq = firstSeq + i;
      if (seq <= this.received) continue; // a resend of a POST whose answer was lost
      this.received = seq;
      const packet = packets[i]!;
      if (packet.kind === 'c') {
        // The client closed. If the server had closed first, its code is the one reported.
        if (this.closing !== null) this.finish(this.closing.code, this.closing.reason, 'closed', null);
        else this.finish(packet.code, packet.reason, 'closed', null);
        return;
      }
      if (packet.kind === 'o' || this.state !== ReadyState.OPEN) continue;
      const message = packet as MessagePacket;
      if (!this.safely(callMessage, message)) return;
    }
  }

  /** @internal The next upstream sequence number expected. */
  get expectedSeq(): number {
    return this.received + 1;
  }

  /** @internal Counts requests in progress: a session with one is not idle. */
  begin(): void {
    this.active++;
  }

  end(): void {
    this.active--;
    this.lastSeen = this.host.now();
  }

  /** @internal Deadlines: unread answers, probe, hold, heartbeat, server close, expiry. */
  sweep(now: number): void {
    const { drainTimeout } = this.host.options;
    for (let i = this.answers.length - 1; i >= 0; i--) {
      const answer = this.answers[i]!;
      if (stalled(answer, now, drainTimeout)) answer.destroy();
    }
    // An upgraded session lives and dies with its WebSocket (idle, pings, close deadlines).
    if (this.carrier !== null || this.state === ReadyState.CLOSED) return;
    if (this.probe !== null && now >= this.probeDeadline) {
      this.probe.close(CloseCode.POLICY_VIOLATION, 'upgrade timed out');
      this.probe = null;
    }
    if (this.held !== null && now >= this.holdDeadline) this.flushHeld();
    const stream = this.stream;
    if (stream !== null) {
      if (stalled(stream, now, drainTimeout)) {
        stream.destroy();
      } else if (now >= this.heartbeatDue) {
        // A comment line: proxies see traffic, clients see the stream is alive. Not behind
        // bytes that are still waiting: those are traffic enough.
        if (stream.writableLength === 0) stream.write(SSE_HEARTBEAT);
        this.heartbeatDue = now + this.host.options.heartbeat;
      }
    }
    if (this.closing !== null && now >= this.closing.deadline) {
      // The client never confirmed the close: no closing handshake, as for a WebSocket.
      this.finish(CloseCode.ABNORMAL, '', 'closed', null);
      return;
    }
    if (!this.confirmed && now >= this.confirmDeadline) {
      // A stream or poll still open is a client that is there; anything else never came back.
      if (this.stream !== null || this.held !== null || this.active > 0) this.confirm();
      else {
        this.finish(CloseCode.ABNORMAL, 'session expired', 'expired', null);
        return;
      }
    }
    if (this.held === null && this.stream === null && this.active === 0 && now - this.lastSeen > this.host.options.sessionTimeout) {
      this.finish(CloseCode.ABNORMAL, 'session expired', 'expired', null);
      return;
    }
    if (this.answers.length > 0 || this.stream !== null) this.updateReservation();
  }

  // ---- Writing -----------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Sends made in the same tick leave in one response.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.state === ReadyState.CLOSED) return;
    if (this.held !== null && this.queue.length > 0) this.flushHeld();
    this.pump();
  }

  private flushHeld(): void {
    const response = this.held!;
    this.held = null;
    response.off('close', onHeldClose);
    this.lastSeen = this.host.now();
    this.answerPoll(response);
  }

  private writeBatch(response: ServerResponse, queue: readonly Queued[], open?: Handshake): void {
    if (response.destroyed || response.writableEnded) return;
    const packets: Packet[] = [];
    if (open !== undefined) packets.push({ kind: 'o', handshake: open });
    for (const item of queue) packets.push(item.kind === 'c' ? { kind: 'c', ...closeOf(item) } : { kind: item.kind, data: item.data });
    const parts = batchParts(queue.length > 0 ? queue[0]!.seq : this.nextSeq, packets);
    let length = 0;
    for (const part of parts) length += part.length;
    response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': length });
    // Payloads are written as they are (no copy into one buffer): writev takes the list.
    response.cork();
    for (const part of parts) response.write(part);
    response.end();
    if (queue.length === 0) return;
    const last = queue[queue.length - 1]!.seq;
    if (last > this.sent) this.sent = last;
    if (response.writableLength === 0) return;
    // The kernel did not take it all: the rest waits for the client, on our books.
    (response as OwnedResponse)[kSession] = this;
    response.once('finish', onAnswerDone);
    response.once('close', onAnswerDone);
    watchProgress(response, this.host.now());
    this.answers.push(response);
    this.updateReservation();
  }

  /** Writes the events after `streamed` while the stream's socket takes them. */
  private pump(): void {
    const stream = this.stream;
    if (stream === null || stream.destroyed || stream.writableNeedDrain || this.queue.length === 0) return;
    const first = this.queue[0]!.seq;
    let index = Math.max(0, this.streamed + 1 - first);
    if (index >= this.queue.length) return;
    index = this.writeStream(stream, this.queue, index);
    this.updateReservation();
  }

  /** Writes `queue[index..]` as events until the socket asks to wait; returns where it stopped. */
  private writeStream(stream: ServerResponse, queue: readonly Queued[], index: number): number {
    stream.cork();
    while (index < queue.length) {
      const item = queue[index++]!;
      const room = stream.write(sseEvent(item.seq, sseData(item)));
      this.streamed = item.seq;
      if (item.seq > this.sent) this.sent = item.seq;
      if (!room) break;
    }
    stream.uncork();
    return index;
  }

  /** @internal A poll answer was taken whole by the kernel, or its connection closed. */
  answerDone(response: ServerResponse): void {
    const at = this.answers.indexOf(response);
    if (at === -1) return;
    this.answers.splice(at, 1);
    if (this.state !== ReadyState.CLOSED) this.updateReservation();
  }

  /** @internal The held poll's client went away before an answer. */
  heldClosed(response: ServerResponse): void {
    if (this.held !== response) return;
    this.held = null;
    this.lastSeen = this.host.now();
  }

  /** @internal The SSE stream's socket drained: write on. */
  streamDrained(response: ServerResponse): void {
    if (this.stream === response) this.pump();
  }

  /** @internal The SSE client went away. */
  streamClosed(response: ServerResponse): void {
    if (this.stream !== response) return;
    this.stream = null;
    this.lastSeen = this.host.now();
    // The stream carried the server's close packet and the client hung up after it: it
    // has it, and nothing is left to wait for.
    if (this.closing !== null && this.streamed >= this.closing.seq) this.finish(this.closing.code, this.closing.reason, 'closed', null);
    else this.updateReservation();
  }

  private endStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.off('close', onStreamClose);
    stream.off('drain', onStreamDrain);
    this.lastSeen = this.host.now();
    // What the kernel has not taken would only wait for a client that is not reading.
    if (stream.writableLength > 0) stream.destroy();
    else stream.end();
  }

  // ---- Application hooks ------------------------------------------------------------------

  /** @internal The application's hook threw or rejected: close this session alone with 1011. */
  failInternally(error: unknown): void {
    this.report(error);
    if (this.state === ReadyState.OPEN) this.close(CloseCode.INTERNAL_ERROR, '');
  }

  /** Hands `error` to the `error` hook, which may itself fail: nothing more to tell then. */
  private report(error: unknown): void {
    try {
      const result = this.handler.error?.(this, error instanceof Error ? error : new Error(String(error))) as unknown;
      if (isThenable(result)) result.then(undefined, ignore);
    } catch {
      // the error hook itself failed
    }
  }

  /**
   * Runs a hook; returns false (after closing with 1011) if it threw. A hook that returns
   * a promise (an `async` one) is a throw when it rejects: the handler is attached only
   * then, so synchronous hooks cost no closure.
   */
  private safely(hook: (session: HttpSession<D>, value: any) => unknown, value: unknown): boolean {
    try {
      const result = hook(this, value);
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.failInternally(error));
      return true;
    } catch (error) {
      this.failInternally(error);
      return false;
    }
  }

  private finish(code: number, reason: string, why: EndReason, error: Error | null): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    if (this.probe !== null) this.probe.terminate();
    this.probe = null;
    this.closing = null;
    this.queue = EMPTY as Queued[];
    this.queuedBytes = 0;
    this.queueCost = 0;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      held.off('close', onHeldClose);
      this.writeBatch(held, EMPTY);
    }
    this.endStream();
    // Answers still waiting for their client are of no use to anyone now.
    destroyUnread(this.answers);
    this.host.outbound.release(this);
    this.host.sessionEnded(this, why);
    if (why === 'evicted') queueMicrotask(() => this.closed(code, reason, error));
    else this.closed(code, reason, error);
  }

  /** The `close` hook (after `error`, when there is one to report). */
  private closed(code: number, reason: string, error: Error | null): void {
    if (error !== null) this.report(error);
    try {
      const result = this.handler.close?.(this, code, reason) as unknown;
      if (isThenable(result)) result.then(undefined, (failure: unknown) => this.report(failure));
    } catch (failure) {
      this.report(failure);
    }
  }

  // ---- Upgrade to WebSocket (CarriedSession) ------------------------------------------------

  /** @internal A WebSocket for this session was opened: it is probed, not used yet. */
  attachProbe(socket: SessionSocket): void {
    this.probe?.close(CloseCode.POLICY_VIOLATION, 'replaced by another upgrade');
    this.probe = socket;
    this.probeDeadline = Date.now() + this.host.handshakeTimeout;
  }

  /** @internal Whether a WebSocket upgrade may attach now. */
  get upgradable(): boolean {
    return this.state === ReadyState.OPEN && this.carrier === null;
  }

  /** @internal `upgrade N`: the client has everything up to N and polls no more. */
  upgradeTo(socket: SessionSocket, ack: number): boolean {
    if (socket !== this.probe || !this.upgradable || ack > this.sent) return false;
    this.acknowledge(ack);
    if (this.state !== ReadyState.OPEN) return false;
    // The queue moves onto the socket whole, or not at all: over what a WebSocket may
    // buffer, part of it would be dropped. The client stays on HTTP.
    if (this.queuedBytes > this.host.maxBufferedAmount) return false;
    // Whatever HTTP was doing ends now; its unacknowledged messages go over the socket.
    if (this.held !== null) {
      const held = this.held;
      this.held = null;
      held.off('close', onHeldClose);
      this.writeBatch(held, EMPTY);
    }
    this.endStream();
    this.probe = null;
    this.carrier = socket;
    socket.carry();
    socket.sendData(Buffer.from(encodeUpgradeMessage({ type: 'upgraded', seq: this.received })), false, false);
    for (const item of this.queue) socket.sendData(item.data, item.kind === 'b', undefined);
    this.queue = [];
    this.queuedBytes = 0;
    this.queueCost = 0;
    this.updateReservation();
    if (this.drainWanted && socket.bufferedAmount === 0) {
      this.drainWanted = false;
      this.safely(callDrain, undefined);
    }
    return true;
  }

  /** @internal */
  carrierMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === ReadyState.CLOSED) return;
    this.safely(isBinary ? callBinaryMessage : callTextMessage, data);
  }

  /** @internal */
  carrierDrain(): void {
    this.safely(callDrain, undefined);
  }

  /** @internal The WebSocket closed: a probe is forgotten, a carrier ends the session. */
  carrierClosed(socket: SessionSocket, code: number, reason: string): void {
    if (socket === this.probe) this.probe = null;
    if (socket === this.carrier) this.finish(code, reason, 'closed', null);
  }

  /** @internal Ends the session on server shutdown, as a WebSocket peer gets 1001. */
  shutdown(code: number, reason: string): void {
    if (this.state === ReadyState.OPEN) this.close(code, reason);
    this.flush();
  }
}

/** The close reason of a session evicted by the outbound budget. */
const EVICTED_REASON = 'server out of memory for this session';

function closeOf(item: Queued): { code: number; reason: string } {
  const text = item.data.toString('utf8');
  const space = text.indexOf(' ');
  return { code: Number(text.slice(0, space)), reason: text.slice(space + 1) };
}

/** The SSE data field of a queued packet (built when written: a resend builds it again). */
function sseData(item: Queued): string {
  if (item.kind === 'b') return 'b' + item.data.toString('base64');
  if (item.kind === 't') return sseTextData(item.data.toString('utf8'));
  const close = closeOf(item);
  return sseCloseData(close.code, close.reason);
}

/**
 * Destroys (and forgets) the answers that still hold bytes; those the kernel took whole
 * are about to report 'finish' and leave the list on their own (their connection may
 * carry on).
 */
function destroyUnread(answers: ServerResponse[]): void {
  for (let i = answers.length - 1; i >= 0; i--) {
    const answer = answers[i]!;
    if (answer.writableLength === 0) continue;
    answers.splice(i, 1);
    answer.destroy();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function ignore(): void {}

function handlerOf(session: HttpSession): Handler {
  return (session as unknown as { handler: Handler }).handler;
}

function callOpen(session: HttpSession): unknown {
  return handlerOf(session).open?.(session);
}

function callMessage(session: HttpSession, packet: MessagePacket): unknown {
  return handlerOf(session).message?.(session, packet.data as Buffer, packet.kind === 'b');
}

function callTextMessage(session: HttpSession, data: Buffer): unknown {
  return handlerOf(session).message?.(session, data, false);
}

function callBinaryMessage(session: HttpSession, data: Buffer): unknown {
  return handlerOf(session).message?.(session, data, true);
}

function callDrain(session: HttpSession): unknown {
  return handlerOf(session).drain?.(session);
}

function onHeldClose(this: OwnedResponse): void {
  this[kSession]?.heldClosed(this);
}

function onStreamClose(this: OwnedResponse): void {
  this[kSession]?.streamClosed(this);
}

function onStreamDrain(this: OwnedResponse): void {
  this[kSession]?.streamDrained(this);
}

function onAnswerDone(this: OwnedResponse): void {
  this[kSession]?.answerDone(this);
}
