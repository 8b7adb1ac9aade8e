import { ALL_TRANSPORTS, connect, type TransportName } from '../browser/client.js';
import { WebSocket } from '../client/websocket.js';
import { UsageError } from './args.js';
import { type ConnectOptions, PingCycle } from './connect.js';
import { LineSession } from './line-session.js';
import { TransportFetch } from './transport-fetch.js';

/**
 * `hotline connect --transport T URL`: the same client as a browser's, over any
 * transport (or a comma-separated list, tried in order), driven by the same LineSession
 * as the WebSocket client.
 */
export interface TransportConnectOptions extends ConnectOptions {
  transports: TransportName[];
  /** ms between polls (polling, interval-polling); default: the server's. */
  interval?: number;
}

export function parseTransports(value: string, usage = ''): TransportName[] {
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(ALL_TRANSPORTS as readonly string[]).includes(name)) {
      throw new UsageError(`--transport must be one of ${ALL_TRANSPORTS.join(', ')} (or a comma-separated list), not ${JSON.stringify(name)}`, usage);
    }
  }
  return names as TransportName[];
}

export function connectTransport(options: TransportConnectOptions): Promise<number> {
  return new Promise((resolve) => {
    const fetcher = new TransportFetch(options.tls);
    const cycle = new PingCycle();
    // The client opens its WebSockets with this class: the one in use answers the cycle
    // pings, and its pings and pongs can be shown.
    let socket: WebSocket | null = null;
    /** The socket error behind a failed WebSocket (the client reports only its close code). */
    let socketError = '';
    class WatchedWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[], webSocketOptions?: ConstructorParameters<typeof WebSocket>[2]) {
        super(url, protocols, webSocketOptions);
        socket = this;
        this.addEventListener('error', (event) => {
          const error = (event as unknown as { error?: { message?: string; code?: string } }).error;
          if (error?.message) socketError = `${error.message}${error.code ? ` (${error.code})` : ''}`;
        });
        this.addEventListener('pong', (event) => {
          const data = (event as unknown as { data: Buffer }).data;
          if (!cycle.pong(data) && options.showPingPong && socket === this) session.control('pong', data);
        });
        if (options.showPingPong) {
          this.addEventListener('ping', (event) => {
            if (socket === this) session.control('ping', (event as unknown as { data: Buffer }).data);
          });
        }
      }
    }
    const client = connect(options.url, {
      transports: options.transports,
      WebSocket: WatchedWebSocket as never,
      webSocketOptions: { headers: options.headers, perMessageDeflate: options.deflate, ...(options.tls !== undefined ? { tls: options.tls } : {}) },
      headers: options.headers,
      fetch: fetcher.fetch as unknown as typeof fetch,
      // A command line should not retry forever against a server that went away.
      reconnect: { retries: 3 },
      ...(options.interval !== undefined ? { interval: options.interval } : {}),
    });
    let opened = false;
    let failed = false;
    const session = new LineSession(
      {
        get readyState() {
          return client.readyState;
        },
        get bufferedAmount() {
          return client.bufferedAmount;
        },
        // Lines sent before the connection opens wait in the client and leave in order.
        send: (line) => client.send(line),
        close: (code) => client.close(code),
        beginCycle() {
          const transport = client.transport;
          if (transport === 'websocket') return socket !== null && socket.readyState === WebSocket.OPEN ? cycle.begin(socket) : null;
          // The next poll begun from now on.
          if (transport === 'polling' || transport === 'interval-polling') return fetcher.pollsStarted + 1;
          return null;
        },
        cycleDone(token) {
          const transport = client.transport;
          if (transport === 'websocket') return cycle.answered >= token;
          return fetcher.pollsCompletedUpTo >= token;
        },
      },
      { wait: options.wait, execute: options.execute, noColor: options.noColor },
      (line) => client.send(line),
    );
    client.onopen = (event) => {
      opened = true;
      session.opened(`Connected to ${client.url} over ${event.transport}.`);
    };
    client.onmessage = (event) => session.received(event.data);
    client.onerror = (event) => {
      if (failed) return;
      const code = (event.error as { code?: unknown }).code;
      // The socket's own error (ECONNREFUSED…) says more than the client's summary of it.
      const message = socketError || event.message;
      socketError = '';
      session.report(`error: ${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`);
      if (!opened) {
        // Every transport was tried and failed: said once, and no retry behind it.
        failed = true;
        queueMicrotask(() => client.close());
      }
    };
    client.addEventListener('reconnecting', (event) => {
      if (opened && !failed) session.report(`reconnecting (attempt ${(event as unknown as { attempt: number }).attempt})`, false);
    });
    client.onclose = (event) => {
      if (event.willReconnect) {
        session.report(`connection lost (${event.code}${event.reason ? ` ${event.reason}` : ''})`, false);
        return;
      }
      resolve(failed ? session.closed(1006, '') : session.closed(event.code, event.reason));
    };
  });
}
