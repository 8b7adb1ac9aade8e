import type { AddressInfo } from 'node:net';
import { Server } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import type { HttpTransportOptions } from '../../src/transports/options.js';
import { connect, type ClientOptions, type HotlineClient, type TransportName } from '../../src/browser/client.js';
import { WebSocket } from '../../src/client/websocket.js';
import type { Handler } from '../../src/types.js';
import { ReadyState } from '../../src/protocol/ready-state.js';

export const ALL: readonly TransportName[] = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'];
export const HTTP_ONLY = ALL.filter((t) => t !== 'websocket');

/** Short timings so that holds, heartbeats and expiry happen within a test. */
export const FAST: HttpTransportOptions = { hold: 1000, interval: 40, heartbeat: 500, sessionTimeout: 3000, ackDelay: 100 };
/** closeTimeout 400 ms gives the server's sweep a 100 ms granularity. */
export const FAST_SERVER: ServerOptions = { closeTimeout: 400 };

export interface TestServer {
  server: Server;
  transports: HttpTransports;
  port: number;
  url(path?: string): string;
  close(): Promise<void>;
}

export async function startServer(
  route: (server: Server) => Record<string, Handler<any>>,
  options: HttpTransportOptions = {},
  serverOptions: ServerOptions = {},
): Promise<TestServer> {
  const server = new Server({ ...FAST_SERVER, ...serverOptions });
  for (const [path, handler] of Object.entries(route(server))) server.route(path, handler);
  const transports = enableHttpTransports(server, { ...FAST, ...options });
  const address: AddressInfo = await server.listen(0, '127.0.0.1');
  return {
    server,
    transports,
    port: address.port,
    url: (path = '/') => `http://127.0.0.1:${address.port}${path}`,
    async close() {
      transports.close();
      await server.close({ timeout: 200 });
    },
  };
}

export function open(url: string, transport: TransportName, options: ClientOptions = {}): HotlineClient {
  return connect(url, { transports: [transport], WebSocket: WebSocket as never, openTimeout: 3000, ...options });
}

/** Resolves with the next event of `type` that satisfies `test`; rejects after `timeout`. */
export function next<E extends Event>(target: EventTarget, type: string, timeout = 5000, test: (event: E) => boolean = () => true): Promise<E> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, listener);
      reject(new Error(`no ${type} event within ${timeout} ms`));
    }, timeout);
    const listener = (event: Event) => {
      if (!test(event as E)) return;
      clearTimeout(timer);
      target.removeEventListener(type, listener);
      resolve(event as E);
    };
    target.addEventListener(type, listener);
  });
}

/** Collects messages as strings (binary as `hex:...`). */
export function recorder(client: HotlineClient): { messages: string[]; until(n: number, timeout?: number): Promise<string[]> } {
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  client.addEventListener('message', (event) => {
    const data = (event as unknown as { data: string | ArrayBuffer }).data;
    messages.push(typeof data === 'string' ? data : 'hex:' + Buffer.from(data).toString('hex'));
    for (const waiter of waiters.splice(0)) waiter();
  });
  return {
    messages,
    until(n, timeout = 8000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`got ${messages.length} of ${n} messages: ${messages.slice(-3).join(', ').slice(0, 200)}`)), timeout);
        const check = () => {
          if (messages.length >= n) {
            clearTimeout(deadline);
            resolve(messages);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves as soon as `condition()` holds, checked every few ms; rejects after `timeout`
 * naming `what` it waited for. For state the test can read but gets no event of (a
 * handler's log, the server's books): the wait ends with the change, not after a guess.
 */
export function waitFor(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeout;
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() >= deadline) reject(new Error(`waited ${timeout} ms for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** Resolves when `client` is closed for good. */
export async function closed(client: HotlineClient, timeout = 5000): Promise<{ code: number; reason: string; wasClean: boolean }> {
  if (client.readyState === ReadyState.CLOSED) return { code: 0, reason: '', wasClean: true };
  return next(client, 'close', timeout, (e: Event & { willReconnect?: boolean }) => !e.willReconnect) as never;
}

/** An echo handler that records what the server saw. */
export function echo(log: { closes: Array<[string, number, string]>; opens: string[] } = { closes: [], opens: [] }): Handler<unknown> {
  return {
    open(peer) {
      log.opens.push(peer.transport);
    },
    message(peer, data, isBinary) {
      peer.send(data, isBinary);
    },
    close(peer, code, reason) {
      log.closes.push([peer.transport, code, reason]);
    },
  };
}
