import { ALL_TRANSPORTS, connect, type TransportName } from '../browser/client.js';
import { WebSocket } from '../client/websocket.js';
import { UsageError } from './args.js';
import { LineSession } from './line-session.js';

/**
 * `hotline connect --transport T URL`: the same client as a browser's, over any
 * transport (or a comma-separated list, tried in order). Same pipe mode as the WebSocket
 * client: each stdin line is sent, each message received is printed on its own line.
 */
export interface TransportConnectOptions {
  url: string;
  transports: TransportName[];
  headers: Record<string, string>;
  /** Pipe mode: ms to wait for replies after stdin ends before closing. */
  wait: number;
  /** ms between polls (polling, interval-polling); default: the server's. */
  interval?: number;
}

export function parseTransports(value: string): TransportName[] {
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(ALL_TRANSPORTS as readonly string[]).includes(name)) {
      throw new UsageError(`--transport must be one of ${ALL_TRANSPORTS.join(', ')} (or a comma-separated list), not ${JSON.stringify(name)}`);
    }
  }
  return names as TransportName[];
}

export function connectTransport(options: TransportConnectOptions): Promise<number> {
  return new Promise((resolve) => {
    const client = connect(options.url, {
      transports: options.transports,
      WebSocket: WebSocket as never,
      webSocketOptions: { headers: options.headers },
      headers: options.headers,
      // A command line should not retry forever against a server that is not there.
      reconnect: { retries: 3 },
      ...(options.interval !== undefined ? { interval: options.interval } : {}),
    });
    // Lines sent before the connection opens wait in the client and leave in order.
    const session = new LineSession(client, options.wait, (line) => client.send(line));
    client.onopen = (event) => session.opened(`Connected to ${client.url} over ${event.transport}.`);
    client.onmessage = (event) => session.received(event.data);
    client.onerror = (event) => {
      process.stderr.write(`error: ${event.message}\n`);
    };
    client.onclose = (event) => {
      if (event.willReconnect) {
        process.stderr.write(`connection lost (${event.code}${event.reason ? ` ${event.reason}` : ''}), reconnecting\n`);
        return;
      }
      session.closed(event.code, event.reason);
      resolve(event.code === 1000 || event.code === 1005 ? 0 : 1);
    };
  });
}
