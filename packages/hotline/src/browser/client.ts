/**
 * The Hotline client, one module for the browser and Node: `connect(url, options)` picks
 * a transport (WebSocket first), falls back when it fails or is blocked, and gives the
 * same events whatever the transport. Over the HTTP transports it resumes its session
 * after a network break without losing, reordering or duplicating a message.
 *
 * This file is the facade: the readyState, `send`/`close`, the fallback from one
 * transport to the next and the reconnection policy. Each transport is a driver of its
 * own (`transports.ts`), doing only I/O around the session core in `protocol/session/`.
 *
 * No Node built-ins: it uses the global `fetch`, `EventTarget`, `TextEncoder`, timers,
 * and the global `WebSocket` — Node 20 has none, so Node callers pass Hotline's own
 * (`options.WebSocket`).
 */
import { invalidArgument } from '../errors.js';
import { ReadyState } from '../protocol/ready-state.js';
import { MAX_CLOSE_REASON_BYTES, isApplicationCloseCode } from '../protocol/close-code.js';
import {
  ClientCloseEvent,
  ClientErrorEvent,
  ClientMessageEvent,
  ClientReconnectingEvent,
  ClientRecoveryEvent,
  ClientStateEvent,
} from './events.js';
import { PositionTracker } from './positions.js';
import { type Driver, type Outgoing, outgoing } from './driver.js';
import { type ClientIo, type TimerHandle, environmentIo } from './io.js';
import { type ClientOptions, type ResolvedClientOptions, type TransportName, backoffDelay, resolveClientOptions, restartDelay } from './options.js';
import { createDriver } from './transports.js';

export { ALL_TRANSPORTS, type ClientOptions, type ReconnectOptions, type TransportName } from './options.js';
export type { WebSocketConstructor, WebSocketLike } from './io.js';
export { TransportFailure } from './driver.js';

/** The client's states are the WebSocket ones (`ClientState` is kept as the client-facing name). */
export { ReadyState as ClientState };

/** Close codes after which the client comes back on its own (the others are deliberate). */
const RECONNECT_CODES = new Set([1001, 1006, 1012, 1013, 1014]);
/** Service Restart: the server is draining, and another node is ready (`restartDelay`). */
const SERVICE_RESTART = 1012;
const textEncoder = new TextEncoder();

type Handler<E> = ((event: E) => void) | null;

// DriverOwner's callbacks are internal: the contract is checked where the client hands
// itself to a driver (`createDriver`), and stays out of the published declarations.
export class HotlineClient extends EventTarget {
  /** The URL given, as http(s). */
  readonly url: string;
  private state: ReadyState = ReadyState.CONNECTING;
  private readonly transportList: readonly TransportName[];
  /** @internal The options with their defaults, checked. */
  readonly options: ResolvedClientOptions;
  /** @internal What the transports do I/O with. */
  readonly io: ClientIo;
  private driver: Driver | null = null;
  private lastTransport = '';
  /** Where a reconnection starts: the transport that worked last. */
  private startIndex = 0;
  private attempt = 0;
  /** Transports tried in the current attempt. */
  private tried = 0;
  private reconnectTimer: TimerHandle | null = null;
  private pending: Outgoing[] = [];
  private userClosed = false;
  /** The envelope's positions per topic (`recovery`); null for a plain client. */
  private readonly positions: PositionTracker | null;

  onopen: Handler<ClientStateEvent> = null;
  onmessage: Handler<ClientMessageEvent> = null;
  onclose: Handler<ClientCloseEvent> = null;
  onerror: Handler<ClientErrorEvent> = null;
  onrecovery: Handler<ClientRecoveryEvent> = null;

  constructor(url: string | URL, options: ClientOptions = {}) {
    super();
    // A relative URL is resolved against the page's location (there is none in Node).
    const page = (globalThis as { location?: { href: string } | null }).location;
    let parsed: URL;
    try {
      parsed = new URL(String(url), typeof page === 'object' && page !== null ? page.href : undefined);
    } catch {
      throw invalidArgument(`hotline client: ${JSON.stringify(String(url))} is not a URL (an absolute one outside a page)`);
    }
    if (parsed.protocol === 'ws:') parsed.protocol = 'http:';
    else if (parsed.protocol === 'wss:') parsed.protocol = 'https:';
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw invalidArgument(`hotline client: unsupported URL scheme ${parsed.protocol} (http, https, ws or wss)`);
    }
    parsed.hash = '';
    this.url = parsed.href;
    this.options = resolveClientOptions(options);
    this.io = environmentIo(this.options);
    // Node 20 has no global WebSocket: without this the client would quietly fall back to
    // the next transport and the application would never learn why WebSocket is unused.
    if (this.io.WebSocket === undefined && this.options.transports.includes('websocket')) {
      throw invalidArgument(
        "hotline client: transport 'websocket' needs a WebSocket class, and this runtime has no global WebSocket: " +
          "pass Hotline's, connect(url, { WebSocket }) with `import { WebSocket } from 'hotline'`, " +
          "or leave 'websocket' out of `transports`",
      );
    }
    this.transportList = this.options.transports;
    this.positions = this.options.recovery ? new PositionTracker() : null;
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
    if (this.reconnectTimer !== null) this.io.clearTimeout(this.reconnectTimer);
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

  /** @internal The envelope and the positions to come back with, on every connection request. */
  handshakeParams(): Record<string, string> {
    return this.positions?.params() ?? {};
  }

  /** @internal */
  driverMessage(driver: Driver, data: string | ArrayBuffer): void {
    if (driver !== this.driver || this.state === ReadyState.CLOSED) return;
    const positions = this.positions;
    if (positions === null) {
      this.emit(new ClientMessageEvent(data));
      return;
    }
    let received;
    try {
      received = positions.receive(data);
    } catch (error) {
      // Not an envelope: a server that is not Hotline's, or a bug. Told, and skipped.
      this.emit(new ClientErrorEvent(error as Error));
      return;
    }
    if (received.recovery !== undefined) this.emit(new ClientRecoveryEvent(received.recovery));
    const message = received.message;
    if (message !== undefined && driver === this.driver) this.emit(new ClientMessageEvent(message.data, message.topic, message.position));
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
    if (again) this.scheduleReconnect(code);
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

  // ---- Internals ---------------------------------------------------------------------------

  private attemptsLeft(): boolean {
    return this.options.reconnect !== null && this.attempt < this.options.reconnect.retries;
  }

  private scheduleReconnect(closeCode?: number): void {
    this.attempt++;
    const policy = this.options.reconnect!;
    const random = this.io.random();
    // A node that closes with 1012 is draining: the first retry goes to another node at once
    // (jittered), later ones back off as usual.
    const delay = closeCode === SERVICE_RESTART && this.attempt === 1 ? restartDelay(policy, random) : backoffDelay(policy, this.attempt, random);
    this.state = ReadyState.CONNECTING;
    this.emit(new ClientReconnectingEvent(this.attempt, delay));
    this.reconnectTimer = this.io.setTimeout(() => {
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
    const driver = createDriver(this, name);
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

/** Opens a connection to a Hotline route. */
export function connect(url: string | URL, options: ClientOptions = {}): HotlineClient {
  return new HotlineClient(url, options);
}
