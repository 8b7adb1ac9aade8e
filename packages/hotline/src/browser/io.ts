/**
 * What the transports need from their environment, and nothing more: a fetch, a
 * WebSocket class, timers and a clock. The browser's own by default; Node callers (and
 * the benchmark's clients, which count what goes over the wire) pass theirs, and tests
 * pass fakes. The drivers never touch a global directly.
 */

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

/** The parts of a fetch `Response` the transports read. */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  /** The body as it arrives (the SSE stream). */
  readonly body: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
  json(): Promise<unknown>;
}

/**
 * Fetch's `RequestCredentials` and `RequestCache`, spelled out: the client compiles with
 * the DOM's types and with Node's alike, and only the DOM's name them.
 */
export type Credentials = 'omit' | 'same-origin' | 'include';
export type CacheMode = 'default' | 'no-store' | 'reload' | 'no-cache' | 'force-cache' | 'only-if-cached';

/** The parts of `RequestInit` the transports set. */
export interface RequestLike {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  credentials: Credentials;
  cache: CacheMode;
  signal?: AbortSignal;
  body?: Uint8Array;
}

export type FetchLike = (url: string, init: RequestLike) => Promise<ResponseLike>;

export type TimerHandle = ReturnType<typeof setTimeout>;

export interface ClientIo {
  readonly fetch: FetchLike;
  /** undefined: no WebSocket in this environment (the transport fails over). */
  readonly WebSocket: WebSocketConstructor | undefined;
  /** Third argument to the WebSocket constructor, when set. */
  readonly webSocketOptions: unknown;
  readonly setTimeout: (callback: () => void, ms: number) => TimerHandle;
  readonly clearTimeout: (handle: TimerHandle) => void;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  /** In [0, 1): the backoff's jitter. */
  readonly random: () => number;
}

function noFetch(): Promise<ResponseLike> {
  return Promise.reject(new Error('no fetch'));
}

function now(): number {
  return performance.now();
}

// Looked up at each call, so that a timer mock installed later still applies.
function setTimer(callback: () => void, ms: number): TimerHandle {
  return setTimeout(callback, ms);
}

function clearTimer(handle: TimerHandle): void {
  clearTimeout(handle);
}

/** The environment's own I/O, with `fetch` and `WebSocket` overridden when given. */
export function environmentIo(overrides: { fetch?: typeof fetch | undefined; WebSocket?: WebSocketConstructor | undefined; webSocketOptions?: unknown }): ClientIo {
  const f = overrides.fetch ?? (globalThis.fetch as typeof fetch | undefined);
  return {
    // A bare `fetch` must be called on the global object ("Illegal invocation" otherwise).
    fetch: f === undefined ? noFetch : (f.bind(globalThis) as unknown as FetchLike),
    WebSocket: overrides.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
    webSocketOptions: overrides.webSocketOptions,
    setTimeout: setTimer,
    clearTimeout: clearTimer,
    now,
    random: Math.random,
  };
}

/** Opens a WebSocket with the environment's class; throws when there is none. */
export function openWebSocket(io: ClientIo, url: string): WebSocketLike {
  const Ctor = io.WebSocket;
  if (Ctor === undefined) throw new Error('no WebSocket class (pass options.WebSocket in Node)');
  const ws = io.webSocketOptions !== undefined ? new Ctor(url, [], io.webSocketOptions) : new Ctor(url);
  ws.binaryType = 'arraybuffer';
  return ws;
}
