/**
 * An HTTP session's I/O around its core (`protocol/session/client-session.ts`): the
 * requests, the upstream queue posted one body at a time, failures and their backoff,
 * the close. The downstream is the transport's own file (`polling.ts` for long, short
 * and interval polling, `sse.ts` for the event stream); `session-upgrade.ts` moves the
 * session onto a WebSocket. Every request goes through the owner's injected `fetch`.
 */
import { ClientSession, type SessionTransport, failureAction } from '../protocol/session/client-session.js';
import { type Handshake, type Packet, WireError, textDecoder } from '../protocol/session/wire.js';
import { type DriverOwner, type Outgoing, TransportFailure, failureOf, transportUrl } from './driver.js';
import type { TimerHandle } from './io.js';
import { CLIENT_DEFAULTS, backoffDelay } from './options.js';
import { openPolling } from './polling.js';
import { SessionUpgrade } from './session-upgrade.js';
import type { SessionHost } from './session-host.js';
import { sseLoop } from './sse.js';

/**
 * ms the acknowledgement of the server's close packet may take. It goes out on its own,
 * after the session has ended for the application: a lost one only makes the server wait
 * for its close timeout.
 */
const CLOSE_ACK_TIMEOUT = 5_000;

export class SessionDriver implements SessionHost {
  readonly owner: DriverOwner;
  readonly session: ClientSession;
  readonly httpName: SessionTransport;
  stopped = false;
  paused = false;
  clock: TimerHandle | null = null;
  private readonly controllers = new Set<AbortController>();
  /** The GETs among them (polls, the SSE stream): what a close or an upgrade cuts short. */
  private readonly gets = new Set<AbortController>();
  private readonly timers = new Set<TimerHandle>();
  /** The upstream loop is running (a POST in flight, or its retry's backoff). */
  private flushing = false;
  /** Resolves a `pause()` waiting for the upstream loop to end. */
  private drained: (() => void) | null = null;
  private backoffWait: Promise<void> | null = null;
  private ackTimer: TimerHandle | null = null;
  private resumeWaiters: Array<() => void> = [];
  /** Made when the session tries to move onto a WebSocket. */
  private upgrade: SessionUpgrade | null = null;

  constructor(owner: DriverOwner, httpName: SessionTransport) {
    this.owner = owner;
    this.httpName = httpName;
    const { interval, openTimeout, requestTimeout, maxOverlap } = owner.options;
    this.session = new ClientSession({ transport: httpName, interval, openTimeout, requestTimeout, maxOverlap, now: owner.io.now });
  }

  get sid(): string {
    return this.session.sid;
  }

  get handshake(): Handshake | null {
    return this.session.handshake;
  }

  /** The HTTP transport, or `websocket` once upgraded. */
  get name(): SessionTransport | 'websocket' {
    return this.carried ? 'websocket' : this.httpName;
  }

  get carried(): boolean {
    return this.upgrade !== null && this.upgrade.carrier;
  }

  get backingOff(): boolean {
    return this.backoffWait !== null;
  }

  get bufferedAmount(): number {
    return this.carried ? this.upgrade!.bufferedAmount : this.session.upBytes;
  }

  start(): void {
    if (this.httpName === 'sse') void sseLoop(this);
    else void openPolling(this);
  }

  opening(): void {
    this.owner.driverOpened(this);
    if (this.owner.options.upgrade && !this.stopped) {
      const upgrade = new SessionUpgrade(this);
      if (upgrade.start()) this.upgrade = upgrade;
    }
  }

  params(): Record<string, string | number> {
    return { transport: this.httpName, sid: this.session.sid, ack: this.session.ack };
  }

  deliver(packets: readonly Packet[], from: number): void {
    for (let i = from; i < packets.length; i++) {
      if (this.stopped) return;
      const packet = packets[i]!;
      if (packet.kind === 'o') {
        this.opening();
      } else if (packet.kind === 'c') {
        this.serverClosed(packet.code, packet.reason);
        return;
      } else {
        this.owner.driverMessage(this, packet.kind === 't' ? textDecoder.decode(packet.data) : toArrayBuffer(packet.data));
        if (this.httpName === 'sse') this.scheduleAck();
      }
    }
  }

  /** SSE has no request to carry acks: an empty POST does, at most every `ackDelay`. */
  private scheduleAck(): void {
    const delay = this.session.ackDelay();
    if (delay < 0) return;
    this.ackTimer = this.timer(() => {
      this.ackTimer = null;
      if (this.session.ackDue()) void this.flushUp(true);
    }, delay);
  }

  clearAckTimer(): void {
    if (this.ackTimer !== null) this.clearTimer(this.ackTimer);
    this.ackTimer = null;
  }

  // ---- Upstream ---------------------------------------------------------------------------

  send(message: Outgoing): void {
    const session = this.session;
    if (session.finished || session.closeSent !== null) return;
    if (this.carried) {
      this.upgrade!.send(message.raw);
      return;
    }
    if (!session.send(message.kind, message.bytes)) {
      this.owner.driverError(this, new RangeError(`message of ${message.bytes.length} bytes is over the server's limit`));
      return;
    }
    void this.flushUp(false);
  }

  close(code: number, reason: string): void {
    if (this.carried) {
      this.upgrade!.close(code, reason);
      return;
    }
    // An upgrade under way is abandoned: the close goes the HTTP way.
    this.upgrade?.abandon();
    this.session.sendClose(code, reason);
    // No more polls: the close is the last word (a POST in flight finishes first).
    this.abortGets();
    void this.flushUp(false);
  }

  async flushUp(ackOnly: boolean): Promise<void> {
    // Paused for an upgrade: the last upstream number must stay what `upgrade N` settles.
    if (this.flushing || this.stopped || this.paused || this.carried) return;
    const session = this.session;
    let body = session.takeBatch(ackOnly);
    if (body === null) return;
    this.flushing = true;
    try {
      while (body !== null) {
        let ok = true;
        try {
          await this.request('POST', { transport: this.httpName, sid: session.sid, ack: session.batchAck }, body, session.requestTimeout);
        } catch (error) {
          ok = false;
          session.batchFailed();
          const closing = session.closeSent;
          if (closing !== null) {
            // Closing: the server forgets the session soon either way.
            this.closed(closing.code, closing.reason, true);
            return;
          }
          await this.failed(error as Error);
        }
        if (ok) {
          this.succeeded();
          if (session.batchAcknowledged()) {
            this.closed(session.closeSent!.code, session.closeSent!.reason, true);
            return;
          }
          if (session.queued === 0) return;
        }
        // A retry builds its body again: more may be queued by now.
        if (this.stopped || this.paused || this.carried || session.finished) return;
        body = session.takeBatch(ackOnly);
      }
    } finally {
      this.flushing = false;
      const drained = this.drained;
      this.drained = null;
      drained?.();
    }
  }

  // ---- Ending -----------------------------------------------------------------------------

  /**
   * The server sent a close packet: acknowledge it, so that the server's `close` runs now
   * rather than at its close timeout, then report. The acknowledgement is not one of the
   * requests `stop()` aborts (it follows at once): it goes out on its own, with its own
   * deadline.
   */
  private serverClosed(code: number, reason: string): void {
    this.session.end();
    this.abortAll();
    const { io, options, url } = this.owner;
    const controller = new AbortController();
    const deadline = io.setTimeout(() => controller.abort(), CLOSE_ACK_TIMEOUT);
    io.fetch(transportUrl(url, { transport: this.httpName, sid: this.session.sid, ack: this.session.ack }), {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', ...options.headers },
      credentials: options.credentials,
      cache: 'no-store',
      signal: controller.signal,
      body: this.session.closeAcknowledgement(),
    })
      .then((response) => response.arrayBuffer())
      .catch(() => undefined)
      .finally(() => io.clearTimeout(deadline));
    this.closed(code, reason, true);
  }

  closed(code: number, reason: string, wasClean: boolean, error?: Error): void {
    this.session.end();
    this.owner.driverClosed(this, code, reason, wasClean, error);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abortAll();
    this.unpause();
    this.upgrade?.stop();
    for (const timer of this.timers) this.owner.io.clearTimeout(timer);
    this.timers.clear();
    this.ackTimer = null;
  }

  track(controller: AbortController, get: boolean): void {
    this.controllers.add(controller);
    if (get) this.gets.add(controller);
  }

  untrack(controller: AbortController): void {
    this.controllers.delete(controller);
    this.gets.delete(controller);
  }

  abortGets(): void {
    for (const controller of this.gets) controller.abort();
    this.gets.clear();
    this.stopClock();
  }

  abortAll(): void {
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    this.gets.clear();
    this.stopClock();
  }

  private stopClock(): void {
    if (this.clock !== null) this.clearTimer(this.clock);
    this.clock = null;
  }

  // ---- Pausing for an upgrade -----------------------------------------------------------

  async pause(): Promise<void> {
    this.paused = true;
    this.abortGets();
    if (this.flushing && !this.stopped) await new Promise<void>((resolve) => (this.drained = resolve));
  }

  whilePaused(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const resolve of this.resumeWaiters.splice(0)) resolve();
  }

  // ---- Failures and backoff -----------------------------------------------------------------

  succeeded(): void {
    if (this.session.succeeded()) this.owner.driverResumed(this);
  }

  /**
   * A request failed. A lost session (unknown or expired) ends it; a network error or a
   * 5xx is retried with backoff, shared by every request that fails meanwhile, until the
   * retries run out or the server must have forgotten the session.
   */
  failed(error: Error): Promise<void> {
    const session = this.session;
    // After an upgrade, late HTTP failures (a cut stream, a refused ack) mean nothing.
    if (this.stopped || session.finished || session.closeSent !== null || this.carried) return Promise.resolve();
    if (error instanceof TransportFailure) {
      const action = failureAction(error.status, error.code);
      // A session the server closed to free memory is 1013, Try Again Later: reconnect.
      if (action === 'evicted') {
        this.closed(1013, 'server overloaded', false, error);
        return Promise.resolve();
      }
      if (action !== 'retry') {
        this.closed(1006, action === 'lost' ? 'session lost' : error.message, false, error);
        return Promise.resolve();
      }
    }
    if (error instanceof WireError) {
      this.closed(1006, 'malformed answer', false, error);
      return Promise.resolve();
    }
    if (this.backoffWait !== null) return this.backoffWait;
    const failures = session.failed();
    const policy = this.owner.options.reconnect;
    if (failures > (policy?.retries ?? 0) || session.expiresIn() < 0) {
      this.closed(1006, 'connection lost', false, error);
      return Promise.resolve();
    }
    const delay = session.retryDelay(backoffDelay(policy ?? CLIENT_DEFAULTS.reconnect, failures, this.owner.io.random()));
    this.owner.driverReconnecting(this, failures, delay);
    this.backoffWait = this.sleep(delay).then(() => {
      this.backoffWait = null;
    });
    return this.backoffWait;
  }

  // ---- Plumbing ---------------------------------------------------------------------------

  async request(method: 'GET' | 'POST', params: Record<string, string | number>, body: Uint8Array | undefined, timeout: number): Promise<Uint8Array> {
    const { io, options, url } = this.owner;
    const controller = new AbortController();
    this.track(controller, method === 'GET');
    const timer = this.timer(() => controller.abort(), timeout);
    try {
      const response = await io.fetch(transportUrl(url, params), {
        method,
        headers: body !== undefined ? { 'Content-Type': 'application/octet-stream', ...options.headers } : { ...options.headers },
        credentials: options.credentials,
        cache: 'no-store',
        signal: controller.signal,
        ...(body !== undefined ? { body } : {}),
      });
      if (!response.ok) throw await failureOf(response);
      return new Uint8Array(await response.arrayBuffer());
    } finally {
      this.clearTimer(timer);
      this.untrack(controller);
    }
  }

  timer(callback: () => void, ms: number): TimerHandle {
    const handle = this.owner.io.setTimeout(() => {
      this.timers.delete(handle);
      callback();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    this.owner.io.clearTimeout(handle);
    this.timers.delete(handle);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.timer(resolve, ms);
    });
  }
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}
