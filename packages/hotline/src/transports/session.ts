import { CloseCode, HotlineError } from '../errors.js';
import { encodeClosePayload } from '../protocol/protocol.js';
import { AckOutcome, BUFFER_OBJECT_BYTES, SessionDeadline, ServerSession, packetCost } from '../protocol/session/server-session.js';
import type { Packet } from '../protocol/session/wire.js';
import type { Subscriber } from '../pubsub/topic-tree.js';
import type { Publication } from '../websocket/publication.js';
import type { BudgetExhausted, BudgetHolder } from '../resources/byte-budget.js';
import { type Handler, type Payload, type Peer, ReadyState, type RouteParams, type SendOptions, type SendResult, type TransportName } from '../types.js';
import { checkSendArguments, toBuffer } from '../websocket/payload.js';
import { checkTopic } from '../pubsub/topic.js';
import type { EndReason } from './ended-sessions.js';
import type { HostedSession, SessionHost } from './session-host.js';
import type { HttpTransportName } from './options.js';
import { type HookedSession, callBinaryMessage, callDrain, callMessage, callOpen, callTextMessage, reportError, runCloseHook, runHook } from './session-hooks.js';
import type { LinkedSession, SessionLink } from './session-link.js';
import type { CarriedSession, SessionSocket } from './session-socket.js';
import { carrySession, expireProbe, replaceProbe } from './session-upgrade.js';
import type { RecoveryGate } from '../server/recovery.js';
import { withMessagePrefix } from '../server/peer.js';

/**
 * An HTTP client made into a peer: the `Peer` facade over a sans-I/O session core
 * (`protocol/session/server-session.ts`: sequencing, acknowledgements, upstream order, the
 * close packet, deadlines) and the one link that carries it to the client — the
 * transport's own responses (`SessionLink`), or, after an upgrade, a WebSocket.
 *
 * What a client does not read stays bounded: a response is written only as fast as its
 * socket takes it, an acknowledgement frees only what was handed to a response, a session
 * has one stream and one unread answer at a time, and everything it holds (queue, entries,
 * bytes waiting in its responses) is its share of the server's outbound budget.
 *
 * No timers and no emitters here: the registry's sweep calls `sweep(now)` on every tick.
 */

/** The close reason of a session evicted by the outbound budget. */
const EVICTED_REASON = 'server out of memory for this session';

let nextId = 0;

export class HttpSession<D = unknown> implements Peer<D>, Subscriber, CarriedSession, BudgetHolder, LinkedSession, HookedSession<D>, HostedSession {
  readonly id = 'h' + (++nextId).toString(36);
  readonly protocol = '';
  readonly extensions = '';
  /** Sequencing, acknowledgements, upstream order, close, deadlines. */
  readonly core: ServerSession;
  /** The HTTP transport's responses; null once a WebSocket carries the session. */
  link: SessionLink | null = null;
  /** The WebSocket being probed, or (once the core is carried) the one carrying the session. */
  private socket: SessionSocket | null = null;
  private flushScheduled = false;
  /** @internal The envelope and recovery of a universal client (`envelope=1`); null for a plain client. */
  readonly envelope: RecoveryGate | null;

  constructor(
    readonly sid: string,
    /** The HTTP transport the session started on. */
    readonly httpTransport: HttpTransportName,
    /** The request path the session was created on: other paths do not know it. */
    readonly path: string,
    /** The params of the route pattern that matched `path`. */
    readonly params: RouteParams,
    readonly remoteAddress: string,
    /** Who it belongs to, for the limits per client (`sessionKey`). */
    readonly key: string,
    readonly handler: Handler<D>,
    public data: D,
    readonly host: SessionHost,
    envelope: RecoveryGate | null = null,
  ) {
    this.envelope = envelope;
    // Deadlines are armed from the precise clock: the coarse one may lag by a tick.
    this.core = new ServerSession(host.limits, Date.now());
  }

  // ---- Peer --------------------------------------------------------------------------------

  get readyState(): ReadyState {
    return this.core.readyState;
  }

  /** The HTTP transport, or `websocket` once the session was upgraded. */
  get transport(): TransportName {
    return this.core.isCarried ? 'websocket' : this.httpTransport;
  }

  /**
   * Bytes of messages accepted by `send` and not yet acknowledged by the client (after
   * an upgrade: not yet handed to the kernel, as for any WebSocket).
   */
  get bufferedAmount(): number {
    return this.core.isCarried ? this.socket!.bufferedAmount : this.core.bufferedAmount;
  }

  send(data: Payload, isBinary?: boolean, options?: SendOptions): SendResult {
    checkSendArguments(isBinary, options);
    const bytes = toBuffer(data);
    return this.enqueue(this.envelope === null ? bytes : withMessagePrefix(bytes), isBinary ?? typeof data !== 'string', BUFFER_OBJECT_BYTES);
  }

  /**
   * Subscriber: queues a reference to the published bytes, never a copy; once
   * upgraded, shares the publication's WebSocket frame like any WebSocket peer. Returns
   * what happened to the message: `dropped` when it was refused.
   */
  deliver(publication: Publication): SendResult {
    const envelope = this.envelope;
    if (envelope !== null) return envelope.hold(publication) ? 'sent' : this.sendPublication(publication);
    if (this.core.isCarried) return this.core.readyState === ReadyState.OPEN ? this.socket!.sendShared(publication) : 'dropped';
    return this.enqueue(publication.data, publication.isBinary, 0);
  }

  /** @internal EnvelopedSink: the enveloped bytes, shared by every enveloped subscriber. */
  sendPublication(publication: Publication): SendResult {
    const enveloped = publication.enveloped;
    if (this.core.isCarried) return this.core.readyState === ReadyState.OPEN ? this.socket!.sendShared(enveloped) : 'dropped';
    return this.enqueue(enveloped.data, enveloped.isBinary, 0);
  }

  /** @internal EnvelopedSink */
  get open(): boolean {
    return this.core.readyState === ReadyState.OPEN;
  }

  /** @internal EnvelopedSink */
  sendNotice(message: string): void {
    this.enqueue(Buffer.from(message), false, BUFFER_OBJECT_BYTES);
  }

  private enqueue(data: Buffer, isBinary: boolean, wrapper: number): SendResult {
    const core = this.core;
    if (core.readyState !== ReadyState.OPEN) return 'dropped';
    if (core.isCarried) return this.socket!.sendData(data, isBinary, undefined);
    const link = this.link!;
    // The stated policy when full: refuse the new message (as a WebSocket peer does over
    // maxBufferedAmount), keep everything queued, and fire `drain` once there is room.
    // What the responses hold for the client counts too: it is memory on its behalf.
    const responseBytes = link.responseBytes();
    if (!core.fits(data.length, responseBytes)) return 'dropped';
    const cost = packetCost(data.length, wrapper);
    // The server-wide budget: room is made by closing larger holders, or this is refused.
    if (!this.host.outbound.set(this, core.cost + cost + responseBytes)) {
      core.wantDrain();
      return 'dropped';
    }
    core.push(isBinary ? 'b' : 't', data, cost);
    if (link.open) this.scheduleFlush();
    if (link.ready) return 'sent';
    core.wantDrain();
    return 'buffered';
  }

  /**
   * Ends the session: the client receives a close packet with `code` and `reason` on its
   * next poll (or at once on a held poll or stream); `close` reaches the handler when the
   * client has it (acknowledged, or its stream closed after it), or after the server's
   * close timeout with 1006. Same validation as a WebSocket close (RFC 6455 §7.4, a
   * reason of at most 123 bytes).
   */
  close(code: number = CloseCode.NO_STATUS, reason = ''): void {
    const core = this.core;
    if (core.readyState !== ReadyState.OPEN) return;
    encodeClosePayload(code, reason); // throws HL_ERR_INVALID_ARGUMENT like WebSocket
    if (core.isCarried) {
      // A WebSocket closing handshake; `close` reaches the handler when it completes.
      core.closeCarried();
      this.socket!.close(code, reason);
      return;
    }
    core.close(code, reason, Date.now());
    this.reserve();
    this.scheduleFlush();
  }

  /**
   * HTTP transports have no ping frame (their liveness is the session timeouts), and a
   * session carried by a WebSocket keeps its own heartbeat: sends nothing, returns false.
   */
  ping(_data?: Payload): boolean {
    return false;
  }

  /** Ends the session at once: no close packet; `close` reaches the handler with 1006. */
  terminate(): void {
    if (this.core.readyState === ReadyState.CLOSED) return;
    if (this.core.isCarried) this.socket!.terminate();
    this.finish(CloseCode.ABNORMAL, '', 'closed', null);
  }

  subscribe(topic: string): void {
    checkTopic(topic);
    if (this.core.readyState !== ReadyState.OPEN) return;
    if (this.host.subscribe(this, topic)) this.envelope?.subscribed(this.host, this, topic);
  }

  unsubscribe(topic: string): void {
    checkTopic(topic);
    this.host.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    checkTopic(topic);
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
   * The server needs the memory this session holds: it is closed with 1013
   * (Try Again Later, RFC 6455 §7.4.1) and its queue freed at once. A held poll or an idle
   * stream still carries the close packet (a few bytes); the hooks run after the budget
   * is done (not inside whichever send made room).
   */
  evict(reason: BudgetExhausted): void {
    if (this.core.readyState === ReadyState.CLOSED) {
      this.host.outbound.release(this);
      return;
    }
    if (this.link !== null) {
      this.core.evict(CloseCode.TRY_AGAIN_LATER, EVICTED_REASON);
      this.link.evicted();
    }
    const error = new HotlineError('HL_ERR_BUFFER_FULL', `${reason.budget} is exhausted: the session was closed to make room`);
    this.finish(CloseCode.TRY_AGAIN_LATER, EVICTED_REASON, 'evicted', error);
  }

  /** States what the session holds now. Growth from responses is not refused: it happened. */
  reserve(): void {
    const link = this.link;
    if (this.core.readyState === ReadyState.CLOSED || link === null) this.host.outbound.release(this);
    else this.host.outbound.set(this, this.core.cost + link.responseBytes());
  }

  // ---- Requests (called by the registry) -----------------------------------------------

  /** Runs `open`; an `open` that throws (or rejects) closes this session alone with 1011. */
  start(): void {
    runHook(this, callOpen, undefined);
  }

  /** A request of this session arrived. */
  touch(): void {
    this.core.heard(this.host.now());
  }

  /** The client came back after the handshake: the session is no longer a guess. */
  confirm(): void {
    if (this.core.confirm()) this.host.sessionConfirmed(this);
  }

  /**
   * The client has everything up to `ack` (the registry checked it names only
   * what was sent): free it. Acks that go backwards (overlapping polls) change nothing.
   */
  acknowledge(ack: number): void {
    const outcome = this.core.acknowledge(ack);
    if (outcome === AckOutcome.CLOSED) {
      this.closeAcknowledged();
      return;
    }
    if (outcome === AckOutcome.NONE || outcome === AckOutcome.BEYOND_SENT) return;
    this.reserve();
    if (outcome === AckOutcome.DRAINED) runHook(this, callDrain, undefined);
  }

  /** Upstream packets from a POST, already decoded and checked for gaps. */
  receive(firstSeq: number, packets: readonly Packet[]): void {
    for (let i = 0; i < packets.length; i++) {
      if (!this.core.receive(firstSeq + i)) continue; // a resend of a POST whose answer was lost
      const packet = packets[i]!;
      if (packet.kind === 'c') {
        // The client closed. If the server had closed first, its code is the one reported.
        if (this.core.closing) this.closeAcknowledged();
        else this.finish(packet.code, packet.reason, 'closed', null);
        return;
      }
      if (packet.kind === 'o' || this.core.readyState !== ReadyState.OPEN) continue;
      if (!runHook(this, callMessage, packet)) return;
    }
  }

  /** Deadlines: the link's responses, probe, hold, heartbeat, server close, expiry. */
  sweep(now: number): void {
    const core = this.core;
    const due = core.tick(now);
    const link = this.link;
    const holding = link !== null && link.sweep(now, due);
    if (due === 0) {
      if (holding) this.reserve();
      return;
    }
    if (due & SessionDeadline.PROBE && this.socket !== null) {
      expireProbe(this.socket);
      this.socket = null;
    }
    if (due & SessionDeadline.CLOSE) {
      // The client never confirmed the close: no closing handshake, as for a WebSocket.
      this.finish(CloseCode.ABNORMAL, '', 'closed', null);
      return;
    }
    if (due & SessionDeadline.CONFIRMED) this.host.sessionConfirmed(this);
    if (due & SessionDeadline.EXPIRED) {
      this.finish(CloseCode.ABNORMAL, 'session expired', 'expired', null);
      return;
    }
    if (holding) this.reserve();
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
    if (this.core.readyState !== ReadyState.CLOSED) this.link?.flush();
  }

  /** The client has the server's close packet: the session ends with the server's code. */
  closeAcknowledged(): void {
    this.finish(this.core.closingCode, this.core.closingReason, 'closed', null);
  }

  /** The application's hook threw or rejected: close this session alone with 1011. */
  failInternally(error: unknown): void {
    reportError(this, error);
    if (this.core.readyState === ReadyState.OPEN) this.close(CloseCode.INTERNAL_ERROR, '');
  }

  private finish(code: number, reason: string, why: EndReason, error: Error | null): void {
    const core = this.core;
    if (core.readyState === ReadyState.CLOSED) return;
    // A probe dies with the session; a carrier has closed already, or was terminated.
    if (this.socket !== null && !core.isCarried) {
      this.socket.terminate();
      this.socket = null;
    }
    core.end();
    this.link?.end(true);
    this.host.outbound.release(this);
    this.host.sessionEnded(this, why);
    if (why === 'evicted') queueMicrotask(() => runCloseHook(this, code, reason, error));
    else runCloseHook(this, code, reason, error);
  }

  // ---- Upgrade to WebSocket (CarriedSession) ------------------------------------------------

  /** A WebSocket for this session was opened: it is probed, not used yet. */
  attachProbe(socket: SessionSocket): void {
    if (this.socket !== null) replaceProbe(this.socket);
    this.socket = socket;
    this.core.probeFrom(Date.now());
  }

  /** Whether a WebSocket upgrade may attach now. */
  get upgradable(): boolean {
    return this.core.readyState === ReadyState.OPEN && !this.core.isCarried;
  }

  /** `upgrade N`: the client has everything up to N and polls no more. */
  upgradeTo(socket: SessionSocket, ack: number): boolean {
    const core = this.core;
    if (socket !== this.socket || !this.upgradable || !core.mayAcknowledge(ack)) return false;
    this.acknowledge(ack);
    if (core.readyState !== ReadyState.OPEN) return false;
    // The queue moves onto the socket whole, or not at all: over what a WebSocket may
    // buffer, part of it would be dropped. The client stays on HTTP.
    if (core.bufferedAmount > this.host.maxBufferedAmount) return false;
    // Whatever HTTP was doing ends now; its unacknowledged messages go over the socket.
    this.link!.end(false);
    this.link = null;
    carrySession(socket, core.receivedSeq, core.carry());
    this.reserve();
    if (socket.bufferedAmount === 0 && core.takeDrain()) runHook(this, callDrain, undefined);
    return true;
  }

  carrierMessage(data: Buffer, isBinary: boolean): void {
    if (this.core.readyState === ReadyState.CLOSED) return;
    runHook(this, isBinary ? callBinaryMessage : callTextMessage, data);
  }

  carrierDrain(): void {
    runHook(this, callDrain, undefined);
  }

  /** The WebSocket closed: a probe is forgotten, a carrier ends the session. */
  carrierClosed(socket: SessionSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    if (this.core.isCarried) {
      this.finish(code, reason, 'closed', null);
      return;
    }
    this.socket = null;
    this.core.probeEnded();
  }

  /** Ends the session on server shutdown, as a WebSocket peer gets 1001. */
  shutdown(code: number, reason: string): void {
    if (this.core.readyState === ReadyState.OPEN) this.close(code, reason);
    this.flush();
  }
}
