/**
 * The Hotline client, one module for the browser and Node: `connect(url, options)` picks
 * a transport (WebSocket first), falls back when it fails or is blocked, and gives the
 * same events whatever the transport. Over the HTTP transports it resumes its session
 * after a network break without losing, reordering or duplicating a message.
 *
 * No Node built-ins: it uses the global `fetch`, `EventTarget`, `TextEncoder`, timers,
 * and the global `WebSocket` — Node 20 has none, so Node callers pass Hotline's own
 * (`options.WebSocket`).
 */
import { ReadyState } from '../protocol/ready-state.js';
import { MAX_CLOSE_REASON_BYTES, isApplicationCloseCode } from '../protocol/close-code.js';
import {
  ClientCloseEvent,
  ClientErrorEvent,
  ClientMessageEvent,
  ClientReconnectingEvent,
  ClientStateEvent,
} from './events.js';
import {
  type Handshake,
  type Packet,
  SseParser,
  WireError,
  decodeBatch,
  decodeHandshake,
  decodeSseData,
  encodeBatch,
  packetSize,
} from '../protocol/session/wire.js';
import { decodeUpgradeMessage, encodeUpgradeMessage } from '../protocol/session/upgrade-messages.js';

export type TransportName = 'websocket' | 'sse' | 'long-polling' | 'polling' | 'interval-polling';
export const ALL_TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'];

export interface ReconnectOptions {
  /** Attempts before giving up (after a break or a lost session). Default Infinity. */
  retries?: number;
  /** First delay (ms). Default 500. */
  minDelay?: number;
  /** Largest delay (ms). Default 10 s. */
  maxDelay?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Random spread, as a fraction of the delay (0.5: ±50 %), so clients do not return in step. Default 0.5. */
  jitter?: number;
}

/** The parts of a WebSocket class the client uses (the browser's, or Hotline's in Node). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: any) => WebSocketLike;

export interface ClientOptions {
  /**
   * Transports to try, in order. Default: websocket, sse, long-polling, polling (a
   * fixed-interval client is only made on request).
   */
  transports?: readonly TransportName[];
  /** ms between polls for `polling` and `interval-polling`. Default: what the server says. */
  interval?: number;
  /** ms for a transport to open before the next one is tried. Default 10 s. */
  openTimeout?: number;
  /** ms for a plain (non-held) request to answer. Default 20 s. */
  requestTimeout?: number;
  /** Reconnection; `false` turns it off. */
  reconnect?: ReconnectOptions | false;
  /** The WebSocket class (required in Node 20, which has no global WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** Third argument for the WebSocket constructor (Hotline's Node options: headers, agent, tls). */
  webSocketOptions?: unknown;
  /** The fetch function. Default: the global one. */
  fetch?: typeof fetch;
  /** Extra request headers for the HTTP transports (cross-origin ones need a CORS preflight). */
  headers?: Record<string, string>;
  /** fetch `credentials` for the HTTP transports. Default 'same-origin'. */
  credentials?: RequestCredentials;
  /** Most polls in flight at once for interval-polling; a tick is skipped beyond. Default 4. */
  maxOverlap?: number;
  /**
   * After opening over an HTTP transport, try to move the session onto a WebSocket
   * (without losing, reordering or repeating a message). Default false.
   */
  upgrade?: boolean;
}

/** The client's states are the WebSocket ones (`ClientState` is kept as the client-facing name). */
export { ReadyState as ClientState };

/** Close codes after which the client comes back on its own (the others are deliberate). */
const RECONNECT_CODES = new Set([1001, 1006, 1012, 1013, 1014]);
const textEncoder = new TextEncoder();
// A leading U+FEFF is part of a message: the decoder must not drop it as a byte order mark.
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

type Outgoing = { kind: 't' | 'b'; bytes: Uint8Array; raw: string | ArrayBuffer | ArrayBufferView };

/** A transport's side of a connection. */
interface Driver {
  readonly name: TransportName;
  readonly sid: string;
  readonly bufferedAmount: number;
  start(): void;
  send(message: Outgoing): void;
  close(code: number, reason: string): void;
  /** Stops at once, silently. */
  stop(): void;
}

/** An HTTP error answer: its status and the server's stable code. */
export class TransportFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message || `HTTP ${status}${code ? ` ${code}` : ''}`);
    this.status = status;
    this.code = code;
  }
  override get name(): string {
    return 'TransportFailure';
  }
}

type Handler<E> = ((event: E) => void) | null;

export class HotlineClient extends EventTarget {
  /** The URL given, as http(s). */
  readonly url: string;
  private state: ReadyState = ReadyState.CONNECTING;
  private readonly transportList: readonly TransportName[];
  private readonly reconnectOptions: Required<ReconnectOptions> | null;
  /** @internal */ readonly options: ClientOptions;
  private driver: Driver | null = null;
  private lastTransport = '';
  /** Where a reconnection starts: the transport that worked last. */
  private startIndex = 0;
  private attempt = 0;
  /** Transports tried in the current attempt. */
  private tried = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pending: Outgoing[] = [];
  private userClosed = false;

  onopen: Handler<ClientStateEvent> = null;
  onmessage: Handler<ClientMessageEvent> = null;
  onclose: Handler<ClientCloseEvent> = null;
  onerror: Handler<ClientErrorEvent> = null;

  constructor(url: string | URL, options: ClientOptions = {}) {
    super();
    const parsed = new URL(String(url), typeof location === 'object' && location !== null ? location.href : undefined);
    if (parsed.protocol === 'ws:') parsed.protocol = 'http:';
    else if (parsed.protocol === 'wss:') parsed.protocol = 'https:';
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`unsupported URL scheme ${parsed.protocol}`);
    parsed.hash = '';
    this.url = parsed.href;
    this.options = options;
    const list = options.transports ?? ['websocket', 'sse', 'long-polling', 'polling'];
    if (list.length === 0 || list.some((t) => !ALL_TRANSPORTS.includes(t))) throw new TypeError('transports: a non-empty list of transport names');
    this.transportList = list;
    this.reconnectOptions =
      options.reconnect === false
        ? null
        : { retries: Infinity, minDelay: 500, maxDelay: 10_000, factor: 2, jitter: 0.5, ...options.reconnect };
    queueMicrotask(() => this.beginAttempt());
  }

  get readyState(): ReadyState {
    return this.state;
  }

  /** The transport in use ('' before the first open). */
  get transport(): string {
    return this.driver?.name ?? this.lastTransport;
  }

  /** The HTTP session id ('' over WebSocket). */
  get sid(): string {
    return this.driver?.sid ?? '';
  }

  /** Bytes sent and not yet acknowledged (HTTP) or not yet handed to the network (WebSocket). */
  get bufferedAmount(): number {
    let queued = 0;
    for (const item of this.pending) queued += item.bytes.length;
    return queued + (this.state === ReadyState.OPEN ? (this.driver?.bufferedAmount ?? 0) : 0);
  }

  /**
   * Sends a message: strings as text, anything else as binary. Before the connection
   * opens (or while it reconnects) messages wait and leave in order once it does.
   */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.state === ReadyState.CLOSING || this.state === ReadyState.CLOSED) return;
    const message = outgoing(data);
    if (this.state === ReadyState.OPEN && this.driver !== null) this.driver.send(message);
    else this.pending.push(message);
  }

  close(code = 1000, reason = ''): void {
    if (this.state === ReadyState.CLOSING || this.state === ReadyState.CLOSED) return;
    if (!isApplicationCloseCode(code)) throw new RangeError('close code must be 1000 or 3000-4999');
    if (textEncoder.encode(reason).length > MAX_CLOSE_REASON_BYTES) throw new SyntaxError('close reason longer than 123 bytes');
    this.userClosed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.state === ReadyState.OPEN && this.driver !== null) {
      this.state = ReadyState.CLOSING;
      this.driver.close(code, reason);
    } else {
      this.driver?.stop();
      this.driver = null;
      this.finish(code, reason, false, false);
    }
  }

  // ---- Driver callbacks -----------------------------------------------------------------

  /** @internal */
  driverOpened(driver: Driver): void {
    if (driver !== this.driver) return;
    this.state = ReadyState.OPEN;
    this.attempt = 0;
    this.startIndex = Math.max(0, this.transportList.indexOf(driver.name));
    if (driver.name !== this.lastTransport) {
      this.lastTransport = driver.name;
      this.emit(new ClientStateEvent('transport', driver.name, driver.sid));
    }
    this.emit(new ClientStateEvent('open', driver.name, driver.sid));
    for (const message of this.pending.splice(0)) {
      if (this.driver !== driver || this.state !== ReadyState.OPEN) break;
      driver.send(message);
    }
  }

  /** @internal */
  driverMessage(driver: Driver, data: string | ArrayBuffer): void {
    if (driver !== this.driver || this.state === ReadyState.CLOSED) return;
    this.emit(new ClientMessageEvent(data));
  }

  /** @internal The transport could not open: try the next one. */
  driverFailed(driver: Driver, error: Error): void {
    if (driver !== this.driver) return;
    driver.stop();
    this.driver = null;
    if (this.userClosed) return;
    // Each attempt walks the whole list, starting at the transport that worked last.
    this.tried++;
    if (this.tried < this.transportList.length) {
      this.tryTransport((this.startIndex + this.tried) % this.transportList.length);
      return;
    }
    this.emit(new ClientErrorEvent(error));
    if (this.attemptsLeft()) this.scheduleReconnect();
    else this.finish(1006, 'no transport could connect', false, false);
  }

  /** @internal The session ended: by a close packet, by the user, or lost. */
  driverClosed(driver: Driver, code: number, reason: string, wasClean: boolean, error?: Error): void {
    if (driver !== this.driver) return;
    driver.stop();
    this.driver = null;
    if (error !== undefined) this.emit(new ClientErrorEvent(error));
    const again = !this.userClosed && RECONNECT_CODES.has(code) && this.attemptsLeft();
    this.finish(code, reason, wasClean, again);
    if (again) this.scheduleReconnect();
  }

  /** @internal The session moved onto a WebSocket. */
  driverUpgraded(driver: Driver): void {
    if (driver !== this.driver) return;
    this.lastTransport = driver.name;
    this.emit(new ClientStateEvent('transport', driver.name, driver.sid));
  }

  /** @internal A break on a live session: retrying. */
  driverReconnecting(driver: Driver, attempt: number, delay: number): void {
    if (driver !== this.driver) return;
    this.emit(new ClientReconnectingEvent(attempt, delay));
  }

  /** @internal The session is back after a break. */
  driverResumed(driver: Driver): void {
    if (driver !== this.driver) return;
    this.emit(new ClientStateEvent('resume', driver.name, driver.sid));
  }

  /** @internal */
  driverError(driver: Driver, error: Error): void {
    if (driver !== this.driver) return;
    this.emit(new ClientErrorEvent(error));
  }

  /** @internal Exponential backoff with jitter. */
  backoff(attempt: number): number {
    const r = this.reconnectOptions ?? { minDelay: 500, maxDelay: 10_000, factor: 2, jitter: 0.5 };
    const base = Math.min(r.maxDelay, r.minDelay * Math.pow(r.factor, Math.max(0, attempt - 1)));
    return Math.max(0, Math.round(base * (1 + r.jitter * (2 * Math.random() - 1))));
  }

  /** @internal How many attempts a break may take before the session is given up. */
  get retries(): number {
    return this.reconnectOptions === null ? 0 : this.reconnectOptions.retries;
  }

  // ---- Internals ---------------------------------------------------------------------------

  private attemptsLeft(): boolean {
    return this.reconnectOptions !== null && this.attempt < this.reconnectOptions.retries;
  }

  private scheduleReconnect(): void {
    this.attempt++;
    const delay = this.backoff(this.attempt);
    this.state = ReadyState.CONNECTING;
    this.emit(new ClientReconnectingEvent(this.attempt, delay));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.userClosed) this.beginAttempt();
    }, delay);
  }

  private beginAttempt(): void {
    this.tried = 0;
    this.tryTransport(this.startIndex);
  }

  private tryTransport(index: number): void {
    if (this.userClosed) return;
    const name = this.transportList[index]!;
    const driver: Driver = name === 'websocket' ? new WebSocketDriver(this) : new SessionDriver(this, name);
    this.driver = driver;
    driver.start();
  }

  private finish(code: number, reason: string, wasClean: boolean, willReconnect: boolean): void {
    this.state = willReconnect ? ReadyState.CONNECTING : ReadyState.CLOSED;
    if (!willReconnect) this.pending = [];
    this.emit(new ClientCloseEvent(code, reason, wasClean, willReconnect));
  }

  private emit(event: Event): void {
    const handler = (this as unknown as Record<string, Handler<Event>>)['on' + event.type];
    try {
      handler?.call(this, event);
    } finally {
      this.dispatchEvent(event);
    }
  }
}

function outgoing(data: string | ArrayBuffer | ArrayBufferView): Outgoing {
  if (typeof data === 'string') return { kind: 't', bytes: textEncoder.encode(data), raw: data };
  if (data instanceof ArrayBuffer) return { kind: 'b', bytes: new Uint8Array(data), raw: data };
  if (ArrayBuffer.isView(data)) return { kind: 'b', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), raw: data };
  throw new TypeError('send: a string, an ArrayBuffer or an ArrayBufferView');
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/** Builds a request URL: the route's path and query plus `transport`, `sid`, `ack`. */
function transportUrl(base: string, params: Record<string, string | number>): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  return url.href;
}

// ---- WebSocket -----------------------------------------------------------------------------

class WebSocketDriver implements Driver {
  readonly name = 'websocket' as const;
  readonly sid = '';
  private ws: WebSocketLike | null = null;
  private opened = false;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closeRequested: { code: number; reason: string } | null = null;

  constructor(private readonly client: HotlineClient) {}

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    const Ctor = this.client.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined) {
      queueMicrotask(() => this.client.driverFailed(this, new Error('no WebSocket class (pass options.WebSocket in Node)')));
      return;
    }
    const url = new URL(transportUrl(this.client.url, { transport: 'websocket' }));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws: WebSocketLike;
    try {
      ws = this.client.options.webSocketOptions !== undefined ? new Ctor(url.href, [], this.client.options.webSocketOptions) : new Ctor(url.href);
    } catch (error) {
      queueMicrotask(() => this.client.driverFailed(this, error as Error));
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    // A proxy that accepts the connection and never answers the Upgrade is "blocked" too.
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.opened) this.client.driverFailed(this, new Error('WebSocket did not open in time'));
    }, this.client.options.openTimeout ?? 10_000);
    ws.onopen = () => {
      if (this.stopped) return;
      this.opened = true;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.client.driverOpened(this);
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.stopped) return;
      const data = event.data;
      this.client.driverMessage(this, typeof data === 'string' ? data : (data as ArrayBuffer));
    };
    ws.onerror = () => {
      // `close` follows and says what happened.
    };
    ws.onclose = (event: { code: number; reason: string; wasClean: boolean }) => {
      if (this.stopped) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      if (!this.opened) {
        this.client.driverFailed(this, new Error(`WebSocket failed (${event.code})`));
        return;
      }
      const requested = this.closeRequested;
      this.client.driverClosed(this, requested !== null && event.code === 1005 ? requested.code : event.code, event.reason, event.wasClean);
    };
  }

  send(message: Outgoing): void {
    this.ws?.send(message.raw);
  }

  close(code: number, reason: string): void {
    this.closeRequested = { code, reason };
    this.ws?.close(code, reason);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const ws = this.ws;
    if (ws !== null && ws.readyState < 2) {
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
  }
}

// ---- HTTP sessions -------------------------------------------------------------------------

interface UpPacket {
  seq: number;
  packet: Packet;
  size: number;
}

/**
 * The client side of a session: a handshake, then a downstream loop (long-poll, short
 * poll after `interval`, a fixed `interval` clock, or an SSE stream) that always names the
 * last sequence number received, and an upstream queue posted one body at a time.
 */
class SessionDriver implements Driver {
  sid = '';
  private handshake: Handshake | null = null;
  private opened = false;
  private stopped = false;
  /** The session is over (close packet exchanged); only the final ack may go out. */
  private finished = false;
  private lastReceived = 0;
  private lastAckSent = 0;
  private up: UpPacket[] = [];
  private nextUpSeq = 1;
  private upBytes = 0;
  private posting = false;
  private closeSent: { code: number; reason: string } | null = null;
  private readonly controllers = new Set<AbortController>();
  /** The GETs among them (polls, the SSE stream): what a close or an upgrade cuts short. */
  private readonly gets = new Set<AbortController>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Consecutive failures; a shared backoff while they last. */
  private failures = 0;
  private backoffWait: Promise<void> | null = null;
  private lastOk = Date.now();
  private inFlight = 0;
  private clock: ReturnType<typeof setInterval> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly fetchImpl: typeof fetch;
  /** Upgrade: the WebSocket being tried, then the one carrying the session. */
  private upgrading: WebSocketLike | null = null;
  private carrier: WebSocketLike | null = null;
  private carrierClose: { code: number; reason: string } | null = null;
  /** Polling and POSTing stop while an upgrade settles the last sequence numbers. */
  private paused = false;
  private resumeWaiters: Array<() => void> = [];

  constructor(
    private readonly client: HotlineClient,
    readonly httpName: Exclude<TransportName, 'websocket'>,
  ) {
    const f = client.options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
    this.fetchImpl = f === undefined ? (() => Promise.reject(new Error('no fetch'))) as typeof fetch : f.bind(globalThis);
  }

  /** The HTTP transport, or `websocket` once upgraded. */
  get name(): TransportName {
    return this.carrier !== null ? 'websocket' : this.httpName;
  }

  get bufferedAmount(): number {
    return this.carrier !== null ? this.carrier.bufferedAmount : this.upBytes;
  }

  // ---- Opening --------------------------------------------------------------------------

  start(): void {
    if (this.httpName === 'sse') void this.sseLoop();
    else void this.openPolling();
  }

  private async openPolling(): Promise<void> {
    let batch;
    try {
      const bytes = await this.request('GET', { transport: this.httpName }, undefined, this.client.options.openTimeout ?? 10_000);
      batch = decodeBatch(bytes, { allowOpen: true });
      const first = batch.packets[0];
      if (first?.kind !== 'o') throw new WireError('handshake answer has no open packet');
      this.opening(first.handshake);
    } catch (error) {
      if (!this.stopped) this.client.driverFailed(this, error as Error);
      return;
    }
    this.deliverBatch(batch.firstSeq, batch.packets.slice(1));
    if (this.stopped || this.finished) return;
    if (this.httpName === 'interval-polling') this.startClock();
    else void this.pollLoop();
  }

  private opening(handshake: Handshake): void {
    this.handshake = handshake;
    this.sid = handshake.sid;
    this.opened = true;
    this.lastOk = Date.now();
    this.client.driverOpened(this);
    if (this.client.options.upgrade === true && !this.stopped) this.tryUpgrade();
  }

  // ---- Downstream: polling ----------------------------------------------------------------

  private get interval(): number {
    return this.client.options.interval ?? this.handshake!.interval;
  }

  private pollTimeout(): number {
    // A held poll answers within `hold`; allow for the network on top of it.
    if (this.httpName === 'long-polling') return this.handshake!.hold + 15_000;
    return this.client.options.requestTimeout ?? 20_000;
  }

  private async pollLoop(): Promise<void> {
    while (!this.stopped && !this.finished) {
      await this.whilePaused();
      if (this.stopped || this.finished || this.carrier !== null) return;
      const ok = await this.pollOnce();
      if (this.stopped || this.finished) return;
      // Short polling: wait `interval` after each answer (the notes' "polling").
      if (ok && this.httpName === 'polling') await this.sleep(this.interval);
    }
  }

  /** Fixed-interval polling: a request on every tick, whether the last one answered or not. */
  private startClock(): void {
    const tick = () => {
      if (this.stopped || this.finished || this.backoffWait !== null || this.paused) return;
      // Overlap is allowed (every answer holds all that is unacknowledged, and duplicates
      // are dropped by sequence number), but not without bound.
      if (this.inFlight >= (this.client.options.maxOverlap ?? 4)) return;
      void this.pollOnce();
    };
    this.clock = setInterval(tick, this.interval);
    tick();
  }

  private async pollOnce(): Promise<boolean> {
    this.inFlight++;
    try {
      const bytes = await this.request('GET', this.params(), undefined, this.pollTimeout());
      const batch = decodeBatch(bytes);
      this.succeeded();
      this.deliverBatch(batch.firstSeq, batch.packets);
      return true;
    } catch (error) {
      // Polls aborted for an upgrade are not failures.
      if (!this.paused) await this.failed(error as Error);
      return false;
    } finally {
      this.inFlight--;
    }
  }

  private params(): Record<string, string | number> {
    return { transport: this.httpName, sid: this.sid, ack: this.lastReceived };
  }

  private deliverBatch(firstSeq: number, packets: readonly Packet[]): void {
    for (let i = 0; i < packets.length; i++) this.accept(firstSeq + i, packets[i]!);
  }

  /** Delivers a sequenced packet once, in order; duplicates (resends) are dropped. */
  private accept(seq: number, packet: Packet): void {
    // Once an upgrade is under way the last sequence number is fixed: the rest comes
    // over the WebSocket.
    if (this.stopped || this.finished || this.paused || seq <= this.lastReceived) return;
    // A gap cannot happen (every answer starts right after our ack); if it did, the next
    // request, naming our ack, brings the missing packets again.
    if (seq !== this.lastReceived + 1) return;
    this.lastReceived = seq;
    if (packet.kind === 'c') {
      this.serverClosed(packet.code, packet.reason);
      return;
    }
    if (packet.kind === 'o') return;
    this.client.driverMessage(this, packet.kind === 't' ? textDecoder.decode(packet.data) : toArrayBuffer(packet.data));
    if (this.httpName === 'sse') this.scheduleAck();
  }

  // ---- Downstream: SSE --------------------------------------------------------------------

  private async sseLoop(): Promise<void> {
    while (!this.stopped && !this.finished) {
      await this.whilePaused();
      if (this.stopped || this.finished || this.carrier !== null) return;
      const controller = new AbortController();
      this.controllers.add(controller);
      this.gets.add(controller);
      const opening = !this.opened;
      let openTimer: ReturnType<typeof setTimeout> | null = null;
      if (opening) openTimer = this.timer(() => controller.abort(), this.client.options.openTimeout ?? 10_000);
      try {
        const params = opening ? { transport: 'sse' } : this.params();
        const response = await this.fetchImpl(transportUrl(this.client.url, params), {
          method: 'GET',
          headers: { Accept: 'text/event-stream', ...this.client.options.headers },
          credentials: this.client.options.credentials ?? 'same-origin',
          cache: 'no-store',
          signal: controller.signal,
        });
        if (!response.ok) throw await failureOf(response);
        if (!opening) this.succeeded();
        await this.readStream(response, controller, () => {
          if (openTimer !== null) this.clearTimer(openTimer);
          openTimer = null;
        });
        if (this.stopped || this.finished) return;
        if (!this.opened) throw new WireError('stream ended before the open event');
        throw new Error('event stream ended');
      } catch (error) {
        if (openTimer !== null) this.clearTimer(openTimer);
        if (this.stopped || this.finished) return;
        if (this.paused) continue;
        if (!this.opened) {
          this.client.driverFailed(this, error as Error);
          return;
        }
        await this.failed(error as Error);
      } finally {
        this.controllers.delete(controller);
        this.gets.delete(controller);
      }
    }
  }

  private async readStream(response: Response, controller: AbortController, onOpen: () => void): Promise<void> {
    const body = response.body;
    if (body === null) throw new WireError('no response body');
    const reader = body.getReader();
    const parser = new SseParser();
    // A stream silent for two heartbeats is dead even if TCP has not noticed.
    let live: ReturnType<typeof setTimeout> | null = null;
    const arm = () => {
      if (live !== null) this.clearTimer(live);
      const heartbeat = this.handshake?.heartbeat;
      live = heartbeat === undefined ? null : this.timer(() => controller.abort(), 2 * heartbeat + 5_000);
    };
    arm();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.stopped) return;
        arm();
        for (const event of parser.push(value)) {
          if (event.type === 'session') {
            if (!this.opened) {
              this.opening(decodeHandshake(event.data));
              onOpen();
              arm();
            }
            continue;
          }
          if (event.type !== 'message' || !this.opened) continue;
          const seq = Number(event.lastEventId);
          if (!Number.isSafeInteger(seq)) throw new WireError('event without a sequence number');
          this.accept(seq, decodeSseData(event.data));
          if (this.stopped || this.finished) return;
        }
      }
    } finally {
      if (live !== null) this.clearTimer(live);
      reader.cancel().catch(() => undefined);
    }
  }

  /** SSE has no request to carry acks: an empty POST does, at most every `ackDelay`. */
  private scheduleAck(): void {
    if (this.ackTimer !== null) return;
    this.ackTimer = this.timer(() => {
      this.ackTimer = null;
      if (this.lastReceived > this.lastAckSent) void this.flushUp(true);
    }, this.handshake!.ackDelay);
  }

  // ---- Upstream ---------------------------------------------------------------------------

  send(message: Outgoing): void {
    if (this.finished || this.closeSent !== null) return;
    if (this.carrier !== null) {
      this.carrier.send(message.raw);
      return;
    }
    const size = packetSize(message.kind, message.bytes.length);
    if (size + 24 > this.handshake!.maxBody) {
      this.client.driverError(this, new RangeError(`message of ${message.bytes.length} bytes is over the server's limit`));
      return;
    }
    this.up.push({ seq: this.nextUpSeq++, packet: { kind: message.kind, data: message.bytes }, size });
    this.upBytes += message.bytes.length;
    void this.flushUp(false);
  }

  close(code: number, reason: string): void {
    if (this.carrier !== null) {
      this.carrierClose = { code, reason };
      this.carrier.close(code, reason);
      return;
    }
    // An upgrade under way is abandoned: the close goes the HTTP way.
    this.abandonUpgrade();
    this.closeSent = { code, reason };
    this.up.push({ seq: this.nextUpSeq++, packet: { kind: 'c', code, reason }, size: 16 + reason.length * 3 });
    // No more polls: the close is the last word (a POST in flight finishes first).
    this.abortGets();
    void this.flushUp(false);
  }

  /** Posts the upstream queue, one body at a time (so bodies arrive in order). */
  private async flushUp(ackOnly: boolean): Promise<void> {
    if (this.posting || this.stopped || this.carrier !== null) return;
    if (this.up.length === 0 && !(ackOnly && this.lastReceived > this.lastAckSent)) return;
    this.posting = true;
    try {
      while (!this.stopped && !this.paused) {
        const batch: UpPacket[] = [];
        let size = 24;
        const maxPackets = this.handshake!.maxPackets;
        for (const item of this.up) {
          if (batch.length > 0 && (size + item.size > this.handshake!.maxBody || batch.length >= maxPackets)) break;
          batch.push(item);
          size += item.size;
        }
        if (batch.length === 0 && !(this.lastReceived > this.lastAckSent)) break;
        const firstSeq = batch.length > 0 ? batch[0]!.seq : this.nextUpSeq;
        const body = encodeBatch(firstSeq, batch.map((item) => item.packet));
        const ack = this.lastReceived;
        try {
          await this.request('POST', { transport: this.httpName, sid: this.sid, ack }, body, this.client.options.requestTimeout ?? 20_000);
        } catch (error) {
          if (this.closeSent !== null) {
            // Closing: the server forgets the session soon either way.
            this.closed(this.closeSent.code, this.closeSent.reason, true);
            return;
          }
          await this.failed(error as Error);
          continue;
        }
        this.succeeded();
        this.lastAckSent = Math.max(this.lastAckSent, ack);
        const last = batch.length > 0 ? batch[batch.length - 1]!.seq : 0;
        while (this.up.length > 0 && this.up[0]!.seq <= last) {
          const item = this.up.shift()!;
          if (item.packet.kind !== 'c') this.upBytes -= (item.packet as { data: Uint8Array }).data.length;
        }
        if (this.closeSent !== null && this.up.length === 0) {
          this.closed(this.closeSent.code, this.closeSent.reason, true);
          return;
        }
        if (this.up.length === 0) break;
      }
    } finally {
      this.posting = false;
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
    this.finished = true;
    this.abortAll();
    const body = encodeBatch(this.nextUpSeq, []);
    const init: RequestInit = {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', ...this.client.options.headers },
      credentials: this.client.options.credentials ?? 'same-origin',
      cache: 'no-store',
      body: body as BodyInit,
    };
    if (typeof AbortSignal.timeout === 'function') init.signal = AbortSignal.timeout(5_000);
    this.fetchImpl(transportUrl(this.client.url, { transport: this.httpName, sid: this.sid, ack: this.lastReceived }), init)
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
    this.closed(code, reason, true);
  }

  private closed(code: number, reason: string, wasClean: boolean, error?: Error): void {
    this.finished = true;
    this.client.driverClosed(this, code, reason, wasClean, error);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abortAll();
    this.unpause();
    const ws = this.carrier ?? this.upgrading;
    this.carrier = null;
    this.upgrading = null;
    if (ws !== null && ws.readyState < 2) {
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.clock !== null) clearInterval(this.clock);
    this.clock = null;
  }

  private abortGets(): void {
    for (const controller of this.gets) controller.abort();
    this.gets.clear();
    if (this.clock !== null) clearInterval(this.clock);
    this.clock = null;
  }

  private abortAll(): void {
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    this.gets.clear();
    if (this.clock !== null) clearInterval(this.clock);
    this.clock = null;
  }

  // ---- Upgrade to WebSocket -------------------------------------------------------------------

  /**
   * Tries to move the session onto a WebSocket (see src/transports/session-socket.ts for
   * the exchange). Polling goes on until the probe answers; then it stops, pending polls
   * are aborted and POSTs finish, so the last sequence numbers each side has are exact and
   * the WebSocket carries on from them: nothing lost, reordered or repeated. Any failure
   * before the switch resumes polling as if nothing happened.
   */
  private tryUpgrade(): void {
    const Ctor = this.client.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined) return;
    const url = new URL(transportUrl(this.client.url, { transport: 'websocket', sid: this.sid }));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws: WebSocketLike;
    try {
      ws = this.client.options.webSocketOptions !== undefined ? new Ctor(url.href, [], this.client.options.webSocketOptions) : new Ctor(url.href);
    } catch {
      return;
    }
    this.upgrading = ws;
    ws.binaryType = 'arraybuffer';
    let phase: 'probe' | 'pausing' | 'upgrading' | 'carrier' = 'probe';
    const deadline = this.timer(() => this.abandonUpgrade(), this.client.options.openTimeout ?? 10_000);
    ws.onopen = () => ws.send(encodeUpgradeMessage({ type: 'probe' }));
    ws.onmessage = (event: { data: unknown }) => {
      if (this.stopped || (ws !== this.upgrading && ws !== this.carrier)) return;
      const data = event.data;
      if (phase === 'carrier') {
        this.client.driverMessage(this, typeof data === 'string' ? data : (data as ArrayBuffer));
        return;
      }
      const message = typeof data === 'string' ? decodeUpgradeMessage(data) : null;
      if (phase === 'probe' && message?.type === 'probe') {
        phase = 'pausing';
        void this.pause().then(() => {
          if (ws !== this.upgrading || this.stopped) return;
          phase = 'upgrading';
          ws.send(encodeUpgradeMessage({ type: 'upgrade', seq: this.lastReceived }));
        });
      } else if (phase === 'upgrading' && message?.type === 'upgraded') {
        phase = 'carrier';
        this.clearTimer(deadline);
        this.switchTo(ws, message.seq);
      } else {
        this.abandonUpgrade();
      }
    };
    ws.onerror = () => undefined;
    ws.onclose = (event: { code: number; reason: string; wasClean: boolean }) => {
      if (this.stopped) return;
      if (ws === this.carrier) {
        const requested = this.carrierClose;
        this.closed(requested !== null && event.code === 1005 ? requested.code : event.code, event.reason, event.wasClean);
      } else if (ws === this.upgrading) {
        this.clearTimer(deadline);
        this.abandonUpgrade();
      }
    };
  }

  /** Stops polling and POSTing; resolves once no POST is in flight. */
  private async pause(): Promise<void> {
    this.paused = true;
    this.abortGets();
    while (this.posting && !this.stopped) await this.sleep(5);
  }

  private whilePaused(): Promise<void> {
    if (!this.paused) return Promise.resolve();
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const resolve of this.resumeWaiters.splice(0)) resolve();
  }

  /** The upgrade failed before the switch: back to polling, as if nothing happened. */
  private abandonUpgrade(): void {
    const ws = this.upgrading;
    if (ws === null) return;
    this.upgrading = null;
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
    if (this.paused && !this.stopped) {
      this.unpause();
      if (this.httpName === 'interval-polling') this.startClock();
      void this.flushUp(false);
    }
  }

  /** `upgraded R`: the server has our messages up to R; the rest go over the WebSocket. */
  private switchTo(ws: WebSocketLike, received: number): void {
    this.upgrading = null;
    this.carrier = ws;
    this.abortAll();
    for (const item of this.up) {
      if (item.seq <= received || item.packet.kind === 'c') continue;
      const data = (item.packet as { data: Uint8Array }).data;
      ws.send(item.packet.kind === 't' ? textDecoder.decode(data) : data);
    }
    this.up = [];
    this.upBytes = 0;
    if (this.ackTimer !== null) this.clearTimer(this.ackTimer);
    this.ackTimer = null;
    // The loops see `carrier` and end; nothing polls any more.
    this.unpause();
    this.client.driverUpgraded(this);
  }

  // ---- Failures and backoff -----------------------------------------------------------------

  private succeeded(): void {
    this.lastOk = Date.now();
    if (this.failures > 0) {
      this.failures = 0;
      this.client.driverResumed(this);
    }
  }

  /**
   * A request failed. A lost session (unknown or expired) ends it; a network error or a
   * 5xx is retried with backoff, shared by every request that fails meanwhile, until the
   * retries run out or the server must have forgotten the session.
   */
  private failed(error: Error): Promise<void> {
    // After an upgrade, late HTTP failures (a cut stream, a refused ack) mean nothing.
    if (this.stopped || this.finished || this.closeSent !== null || this.carrier !== null) return Promise.resolve();
    if (error instanceof TransportFailure && !transient(error.status)) {
      // A session the server closed to free memory is 1013, Try Again Later: reconnect.
      if (error.code === 'HL_ERR_SESSION_EVICTED') this.closed(1013, 'server overloaded', false, error);
      else {
        const lost = error.status === 410 || error.code === 'HL_ERR_UNKNOWN_SESSION';
        this.closed(1006, lost ? 'session lost' : error.message, false, error);
      }
      return Promise.resolve();
    }
    if (error instanceof WireError) {
      this.closed(1006, 'malformed answer', false, error);
      return Promise.resolve();
    }
    if (this.backoffWait !== null) return this.backoffWait;
    this.failures++;
    const expiredBy = this.lastOk + (this.handshake?.sessionTimeout ?? 0);
    if (this.failures > this.client.retries || Date.now() > expiredBy) {
      this.closed(1006, 'connection lost', false, error);
      return Promise.resolve();
    }
    const delay = Math.min(this.client.backoff(this.failures), Math.max(0, expiredBy - Date.now() - 1000));
    this.client.driverReconnecting(this, this.failures, delay);
    this.backoffWait = this.sleep(delay).then(() => {
      this.backoffWait = null;
    });
    return this.backoffWait;
  }

  // ---- Plumbing ---------------------------------------------------------------------------

  /** One request, body read whole; non-2xx answers become `TransportFailure`s. */
  private async request(method: 'GET' | 'POST', params: Record<string, string | number>, body: Uint8Array | undefined, timeout: number): Promise<Uint8Array> {
    const controller = new AbortController();
    this.controllers.add(controller);
    if (method === 'GET') this.gets.add(controller);
    const timer = this.timer(() => controller.abort(), timeout);
    try {
      const response = await this.fetchImpl(transportUrl(this.client.url, params), {
        method,
        headers: body !== undefined ? { 'Content-Type': 'application/octet-stream', ...this.client.options.headers } : { ...this.client.options.headers },
        credentials: this.client.options.credentials ?? 'same-origin',
        cache: 'no-store',
        signal: controller.signal,
        ...(body !== undefined ? { body: body as BodyInit } : {}),
      });
      if (!response.ok) throw await failureOf(response);
      return new Uint8Array(await response.arrayBuffer());
    } finally {
      this.clearTimer(timer);
      this.controllers.delete(controller);
      this.gets.delete(controller);
    }
  }

  private timer(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
    const handle = setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private clearTimer(handle: ReturnType<typeof setTimeout>): void {
    clearTimeout(handle);
    this.timers.delete(handle);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.timer(resolve, ms);
    });
  }
}

function transient(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

async function failureOf(response: Response): Promise<TransportFailure> {
  let code = '';
  let message = '';
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not one of ours (a proxy's error page)
  }
  return new TransportFailure(response.status, code, message || `HTTP ${response.status}${code ? ` ${code}` : ''}`);
}

/** Opens a connection to a Hotline route. */
export function connect(url: string | URL, options: ClientOptions = {}): HotlineClient {
  return new HotlineClient(url, options);
}
