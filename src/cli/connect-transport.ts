import { createInterface } from 'node:readline';
import { ALL_TRANSPORTS, connect, type TransportName } from '../browser/client.js';
import { WebSocket } from '../client/websocket.js';
import { UsageError } from './args.js';

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

function format(data: string | ArrayBuffer): string {
  if (typeof data === 'string') return data;
  const bytes = Buffer.from(data);
  return `[binary ${bytes.length} bytes] ${bytes.toString('hex')}`;
}

export function connectTransport(options: TransportConnectOptions): Promise<number> {
  const interactive = process.stdin.isTTY === true;
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
    let lastActivity = Date.now();
    let inputEnded = false;
    const rl = createInterface({ input: process.stdin, terminal: interactive, ...(interactive ? { prompt: '> ' } : {}) });
    const print = (line: string) => {
      if (interactive) {
        process.stdout.write(`\r\x1b[K${line}\n`);
        rl.prompt(true);
      } else {
        process.stdout.write(line + '\n');
      }
    };
    const closeWhenQuiet = () => {
      if (client.readyState !== 1) return;
      // Replies to the last lines get `wait` ms of quiet to arrive before closing.
      const quiet = Date.now() - lastActivity;
      if (quiet >= options.wait && client.bufferedAmount === 0) client.close(1000);
      else setTimeout(closeWhenQuiet, Math.max(10, options.wait - quiet));
    };
    rl.on('line', (line) => {
      // Lines sent before the connection opens wait in the client and leave in order.
      client.send(line);
      lastActivity = Date.now();
      if (interactive) rl.prompt();
    });
    rl.on('close', () => {
      inputEnded = true;
      if (client.readyState !== 1) return;
      if (interactive) client.close(1000);
      else closeWhenQuiet();
    });
    client.onopen = (event) => {
      if (interactive) {
        process.stdout.write(`Connected to ${client.url} over ${event.transport}. Ctrl-D or Ctrl-C to quit.\n`);
        rl.prompt();
      }
      lastActivity = Date.now();
      if (inputEnded) {
        if (interactive) client.close(1000);
        else closeWhenQuiet();
      }
    };
    client.onmessage = (event) => {
      lastActivity = Date.now();
      print(interactive ? `< ${format(event.data)}` : format(event.data));
    };
    client.onerror = (event) => {
      process.stderr.write(`error: ${event.message}\n`);
    };
    client.onclose = (event) => {
      if (event.willReconnect) {
        process.stderr.write(`connection lost (${event.code}${event.reason ? ` ${event.reason}` : ''}), reconnecting\n`);
        return;
      }
      rl.close();
      if (interactive || !inputEnded || event.code !== 1000) {
        process.stderr.write(`closed: ${event.code}${event.reason ? ` ${event.reason}` : ''}\n`);
      }
      process.stdin.unref?.();
      resolve(event.code === 1000 || event.code === 1005 ? 0 : 1);
    };
  });
}
