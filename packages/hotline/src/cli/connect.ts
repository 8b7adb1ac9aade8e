import { WebSocket, type WebSocketOptions } from '../client/websocket.js';
import { UsageError } from './args.js';
import { LineSession } from './line-session.js';

export interface ConnectOptions {
  url: string;
  protocols: string[];
  headers: Record<string, string>;
  /** Pipe mode: ms to wait for replies after stdin ends before closing. */
  wait: number;
  clientOptions?: WebSocketOptions;
}

/** Parses repeated `-H 'Name: value'` flags. */
export function parseHeaders(values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new UsageError(`-H expects "Name: value", got ${JSON.stringify(value)}`);
    headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * `hotline connect URL`: an interactive client like wscat on a terminal; in a pipe, each
 * stdin line is a message and each message received is printed on its own line.
 * Resolves with the process exit code.
 */
export function connect(options: ConnectOptions): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url, options.protocols, { ...options.clientOptions, headers: options.headers });
    ws.binaryType = 'arraybuffer';
    // Lines typed (or piped) before the handshake completes are sent once it does.
    const early: string[] = [];
    const session = new LineSession(ws, options.wait, (line) => {
      if (ws.readyState === WebSocket.CONNECTING) early.push(line);
      else if (ws.readyState === WebSocket.OPEN) ws.send(line);
    });
    ws.onopen = () => {
      for (const line of early.splice(0)) ws.send(line);
      session.opened(`Connected to ${ws.url}${ws.protocol ? ` (protocol ${ws.protocol})` : ''}.`);
    };
    ws.onmessage = (event) => session.received(event.data as string | ArrayBuffer);
    ws.onerror = (event) => {
      const error = (event as unknown as { error?: { code?: string; message?: string } }).error;
      process.stderr.write(`error: ${error?.message ?? 'connection failed'}${error?.code ? ` (${error.code})` : ''}\n`);
    };
    ws.onclose = (event) => {
      session.closed(event.code, event.reason);
      resolve(event.code === 1000 || event.code === 1005 || event.wasClean ? 0 : 1);
    };
  });
}
