import type { ServerResponse } from 'node:http';
import { CloseCode } from '../errors.js';
import { encodeClosePayload } from '../protocol/protocol.js';
import type { Publication, Subscriber } from '../pubsub/topic-tree.js';
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
import { type Handshake, batchParts, closePayload, type MessagePacket, type Packet, sseCloseData, sseEvent, sseTextData, SSE_HEARTBEAT } from './wire.js';

/**
 * An HTTP client made into a peer. The session owns an outbound queue of sequenced
 * messages: every poll (or SSE reconnection) names the last sequence number the client
 * received, the session frees what is acknowledged and (re)sends everything after it, so a
 * lost response is sent again and the client drops what it already has. Upstream
 * messages arrive by POST with their own sequence numbers, delivered once and in order.
 *
 * No timers and no emitters here: the registry's sweep calls `sweep(now)` on every tick.
 */

/** One queued outbound packet. */
export interface Queued {
  readonly seq: number;
  readonly kind: 't' | 'b' | 'c';
  readonly data: Buffer;
  /** The SSE data field, built on first use and kept for resends. */
  sse?: string;
}

/** What the session needs from its registry. */
export interface SessionHost {
  readonly options: ResolvedHttpTransportOptions;
  /** The shared coarse clock. */
  now(): number;
  /** Server close timeout: how long a server-sent close waits for the client's ack. */
  readonly closeTimeout: number;
  subscribe(session: HttpSession, topic: string): void;
  unsubscribe(session: HttpSession, topic: string): void;
  isSubscribed(session: HttpSession, topic: string): boolean;
  topicsOf(session: HttpSession): string[];
  publish(topic: string, data: Payload, isBinary: boolean | undefined, except: Subscriber): void;
  /** The session ended: forget it (and remember why, for late requests). */
  sessionEnded(session: HttpSession, expired: boolean): void;
}

let nextId = 0;
const kSession = Symbol('hotline.session');
type OwnedResponse = ServerResponse & { [kSession]?: HttpSession };

const EMPTY: readonly Queued[] = [];

export class HttpSession<D = unknown> implements Peer<D>, Subscriber, CarriedSession {
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

  private state: ReadyState = ReadyState.OPEN;
  private readonly handler: Handler<D>;
  private readonly host: SessionHost;

  /** Unacknowledged outbound packets, in sequence order. */
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private nextSeq = 1;
  /** Highest sequence number the client acknowledged. */
  private acked = 0;
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
  /** Requests in progress (polls being answered, POST bodies being read). */
  private active = 0;
  /** When the client was last heard from or answered: the expiry clock. */
  private lastSeen: number;

  /** After an upgrade, the WebSocket that carries the session; before, one being probed. */
  private carrier: SessionSocket | null = null;
  private probe: SessionSocket | null = null;

  private flushScheduled = false;
  private drainWanted = false;
  /** A server-sent close waiting for the client: its sequence number and deadline. */
  private closing: { seq: number; code: number; reason: string; deadline: number } | null = null;

  constructor(
    sid: string,
    transport: HttpTransportName,
    path: string,
    remoteAddress: string,
    handler: Handler<D>,
    data: D,
    host: SessionHost,
  ) {
    this.id = 'h' + (++nextId).toString(36);
    this.sid = sid;
    this.httpTransport = transport;
    this.path = path;
    this.remoteAddress = remoteAddress;
    this.handler = handler;
    this.data = data;
    this.host = host;
    this.lastSeen = host.now();
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
    return this.enqueue(toBuffer(data), isBinary ?? typeof data !== 'string');
  }

  /**
   * @internal Subscriber: queues a reference to the published bytes, never a copy; once
   * upgraded, shares the publication's WebSocket frame like any WebSocket peer.
   */
  deliver(publication: Publication): SendResult {
    if (this.carrier !== null) return this.state === ReadyState.OPEN ? this.carrier.sendShared(publication) : 'dropped';
    return this.enqueue(publication.data, publication.isBinary);
  }

  private enqueue(data: Buffer, isBinary: boolean): SendResult {
    if (this.state !== ReadyState.OPEN) return 'dropped';
    if (this.carrier !== null) return this.carrier.sendData(data, isBinary, undefined);
    const { maxQueue, maxQueueMessages } = this.host.options;
    // The stated policy when full: refuse the new message (as a WebSocket peer does over
    // maxBufferedAmount), keep everything queued, and fire `drain` once there is room.
    if (this.queue.length >= maxQueueMessages || (this.queuedBytes > 0 && this.queuedBytes + data.length > maxQueue)) {
      this.drainWanted = true;
      return 'dropped';
    }
    this.queue.push({ seq: this.nextSeq++, kind: isBinary ? 'b' : 't', data });
    this.queuedBytes += data.length;
    if (this.held !== null || this.stream !== null) {
      this.scheduleFlush();
      return 'sent';
    }
    this.drainWanted = true;
    return 'buffered';
  }

  /**
   * Ends the session: the client receives a close packet with `code` and `reason` on its
   * next poll (or at once on a held poll or stream); `close` reaches the handler when the
   * client acknowledges it, or after the server's close timeout. Same validation as a
   * WebSocket close (RFC 6455 §7.4, a reason of at most 123 bytes).
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
    const seq = this.nextSeq++;
    this.queue.push({ seq, kind: 'c', data: Buffer.from(closePayload(code, reason)) });
    this.closing = { seq, code, reason, deadline: this.host.now() + this.host.closeTimeout };
    this.scheduleFlush();
  }

  /** Ends the session at once: no close packet; `close` reaches the handler with 1006. */
  terminate(): void {
    if (this.state === ReadyState.CLOSED) return;
    this.carrier?.terminate();
    this.finish(CloseCode.ABNORMAL, '', false);
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

  // ---- Requests (called by the registry) -----------------------------------------------

  /** @internal Runs `open`; an `open` that throws closes this session alone with 1011. */
  start(): void {
    try {
      this.handler.open?.(this);
    } catch (error) {
      this.failInternally(error);
    }
  }

  /** @internal A request of this session arrived. */
  touch(): void {
    this.lastSeen = this.host.now();
  }

  /** @internal The highest sequence number sent so far (an ack may not exceed it). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /**
   * @internal The client has everything up to `ack`: free it. Acks that go backwards
   * (overlapping fixed-interval polls) change nothing.
   */
  acknowledge(ack: number): void {
    if (ack <= this.acked) return;
    this.acked = ack;
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= ack) {
      this.queuedBytes -= this.queue[n]!.data.length;
      n++;
    }
    if (n > 0) this.queue.splice(0, n);
    if (this.closing !== null && ack >= this.closing.seq) {
      this.finish(this.closing.code, this.closing.reason, false);
      return;
    }
    if (this.queue.length === 0 && this.drainWanted && this.state === ReadyState.OPEN) {
      this.drainWanted = false;
      this.safely(callDrain, undefined);
    }
  }

  /** @internal Answers a poll now with everything unacknowledged (maybe nothing). */
  answerPoll(response: ServerResponse, open?: Handshake): void {
    this.writeBatch(response, this.queue, open);
  }

  /** @internal Whether a poll would find anything to carry. */
  get hasPending(): boolean {
    return this.queue.length > 0;
  }

  /** @internal A long-poll is held. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** @internal Holds a long-poll until something is sent or `hold` ms pass. */
  hold(response: ServerResponse): void {
    this.held = response;
    this.holdDeadline = this.host.now() + this.host.options.hold;
    (response as OwnedResponse)[kSession] = this;
    response.on('close', onHeldClose);
  }

  /**
   * @internal Starts (or replaces) the SSE stream and writes everything unacknowledged to
   * it. A client that reconnects replaces its old stream: the old TCP connection may be
   * half dead, and the new one is what the client reads.
   */
  openStream(response: ServerResponse, open: Handshake | undefined, retry: number): void {
    if (this.stream !== null) this.endStream();
    this.stream = response;
    (response as OwnedResponse)[kSession] = this;
    response.on('close', onStreamClose);
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
    response.write(head + this.sseFrom(this.acked));
    if (this.closing !== null && this.streamed >= this.closing.seq) this.endStream();
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
        if (this.closing !== null) this.finish(this.closing.code, this.closing.reason, false);
        else this.finish(packet.code, packet.reason, false);
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

  /** @internal Deadlines: hold, heartbeat, server close, expiry. */
  sweep(now: number): void {
    // An upgraded session lives and dies with its WebSocket (idle, pings, close deadlines).
    if (this.carrier !== null) return;
    if (this.held !== null && now >= this.holdDeadline) this.flushHeld();
    if (this.stream !== null && now >= this.heartbeatDue) {
      // A comment line: proxies see traffic, clients see the stream is alive.
      this.stream.write(SSE_HEARTBEAT);
      this.heartbeatDue = now + this.host.options.heartbeat;
    }
    if (this.closing !== null && now >= this.closing.deadline) {
      this.finish(this.closing.code, this.closing.reason, false);
      return;
    }
    if (this.held === null && this.stream === null && this.active === 0 && now - this.lastSeen > this.host.options.sessionTimeout) {
      this.finish(CloseCode.ABNORMAL, 'session expired', true);
    }
  }

  // ---- Internals ---------------------------------------------------------------------------

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
    if (this.held !== null && this.queue.length > 0) this.flushHeld();
    if (this.stream !== null && this.streamed < this.lastSeq) {
      this.stream.write(this.sseFrom(this.streamed));
      if (this.closing !== null && this.streamed >= this.closing.seq) this.endStream();
    }
  }

  private flushHeld(): void {
    const response = this.held!;
    this.held = null;
    response.off('close', onHeldClose);
    this.lastSeen = this.host.now();
    this.writeBatch(response, this.queue);
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
  }

  /** SSE events for every queued packet after `after`; advances `streamed`. */
  private sseFrom(after: number): string {
    let out = '';
    for (const item of this.queue) {
      if (item.seq <= after) continue;
      if (item.sse === undefined) {
        if (item.kind === 'b') item.sse = 'b' + item.data.toString('base64');
        else if (item.kind === 't') item.sse = sseTextData(item.data.toString('utf8'));
        else {
          const close = closeOf(item);
          item.sse = sseCloseData(close.code, close.reason);
        }
      }
      out += sseEvent(item.seq, item.sse);
      this.streamed = item.seq;
    }
    return out;
  }

  private endStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.off('close', onStreamClose);
    this.lastSeen = this.host.now();
    stream.end();
  }

  /** @internal The held poll's client went away before an answer. */
  heldClosed(response: ServerResponse): void {
    if (this.held !== response) return;
    this.held = null;
    this.lastSeen = this.host.now();
  }

  /** @internal The SSE client went away. */
  streamClosed(response: ServerResponse): void {
    if (this.stream !== response) return;
    this.stream = null;
    this.lastSeen = this.host.now();
  }

  /** @internal The application's hook threw: close this session alone with 1011. */
  failInternally(error: unknown): void {
    try {
      this.handler.error?.(this, error instanceof Error ? error : new Error(String(error)));
    } catch {
      // the error hook itself failed: nothing more to tell
    }
    if (this.state === ReadyState.OPEN) this.close(CloseCode.INTERNAL_ERROR, '');
  }

  /** Runs a hook; returns false (after closing with 1011) if it threw. */
  private safely(hook: (session: HttpSession<D>, value: any) => void, value: unknown): boolean {
    try {
      hook(this, value);
      return true;
    } catch (error) {
      this.failInternally(error);
      return false;
    }
  }

  private finish(code: number, reason: string, expired: boolean): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    if (this.probe !== null) this.probe.terminate();
    this.probe = null;
    this.closing = null;
    this.queue = EMPTY as Queued[];
    this.queuedBytes = 0;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      held.off('close', onHeldClose);
      this.writeBatch(held, EMPTY);
    }
    this.endStream();
    this.host.sessionEnded(this, expired);
    try {
      this.handler.close?.(this, code, reason);
    } catch {
      // a close hook that throws has nothing left to break
    }
  }

  // ---- Upgrade to WebSocket (CarriedSession) ------------------------------------------------

  /** @internal A WebSocket for this session was opened: it is probed, not used yet. */
  attachProbe(socket: SessionSocket): void {
    this.probe?.close(CloseCode.POLICY_VIOLATION, 'replaced by another upgrade');
    this.probe = socket;
  }

  /** @internal Whether a WebSocket upgrade may attach now. */
  get upgradable(): boolean {
    return this.state === ReadyState.OPEN && this.carrier === null;
  }

  /** @internal `upgrade N`: the client has everything up to N and polls no more. */
  upgradeTo(socket: SessionSocket, ack: number): boolean {
    if (socket !== this.probe || !this.upgradable || ack > this.lastSeq) return false;
    this.acknowledge(ack);
    if (this.state !== ReadyState.OPEN) return false;
    // Whatever HTTP was doing ends now; its unacknowledged messages go over the socket.
    if (this.held !== null) this.flushHeld();
    this.endStream();
    this.probe = null;
    this.carrier = socket;
    socket.carry();
    socket.sendData(Buffer.from(`upgraded ${this.received}`), false, false);
    for (const item of this.queue) socket.sendData(item.data, item.kind === 'b', undefined);
    this.queue = [];
    this.queuedBytes = 0;
    if (this.drainWanted && socket.bufferedAmount === 0) {
      this.drainWanted = false;
      this.safely(callDrain, undefined);
    }
    return true;
  }

  /** @internal */
  carrierMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === ReadyState.CLOSED) return;
    this.handler.message?.(this, data, isBinary);
  }

  /** @internal */
  carrierDrain(): void {
    this.handler.drain?.(this);
  }

  /** @internal The WebSocket closed: a probe is forgotten, a carrier ends the session. */
  carrierClosed(socket: SessionSocket, code: number, reason: string): void {
    if (socket === this.probe) this.probe = null;
    if (socket === this.carrier) this.finish(code, reason, false);
  }

  /** @internal Ends the session on server shutdown, as a WebSocket peer gets 1001. */
  shutdown(code: number, reason: string): void {
    if (this.state === ReadyState.OPEN) this.close(code, reason);
    this.flush();
  }
}

function closeOf(item: Queued): { code: number; reason: string } {
  const text = item.data.toString('utf8');
  const space = text.indexOf(' ');
  return { code: Number(text.slice(0, space)), reason: text.slice(space + 1) };
}

function callMessage(session: HttpSession, packet: MessagePacket): void {
  (session as unknown as { handler: Handler }).handler.message?.(session, packet.data as Buffer, packet.kind === 'b');
}

function callDrain(session: HttpSession): void {
  (session as unknown as { handler: Handler }).handler.drain?.(session);
}

function onHeldClose(this: OwnedResponse): void {
  this[kSession]?.heldClosed(this);
}

function onStreamClose(this: OwnedResponse): void {
  this[kSession]?.streamClosed(this);
}
