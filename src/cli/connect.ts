import { createInterface } from 'node:readline';
import { WebSocket, type WebSocketOptions } from '../client/websocket.js';
import { UsageError } from './args.js';

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

function format(data: unknown): string {
  if (typeof data === 'string') return data;
  const bytes = Buffer.from(data as ArrayBuffer);
  return `[binary ${bytes.length} bytes] ${bytes.toString('hex')}`;
}

/**
 * `hotline connect URL`: an interactive client like wscat on a terminal; in a pipe, each
 * stdin line is a message and each message received is printed on its own line.
 * Resolves with the process exit code.
 */
export function connect(options: ConnectOptions): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url, options.protocols, { ...options.clientOptions, headers: options.headers });
    ws.binaryType = 'arraybuffer';
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

    // Lines typed (or piped) before the handshake completes are sent once it does.
    const early: string[] = [];
    const send = (line: string) => {
      if (ws.readyState === WebSocket.CONNECTING) early.push(line);
      else if (ws.readyState === WebSocket.OPEN) ws.send(line);
      lastActivity = Date.now();
    };
    const closeWhenQuiet = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // Give replies to the last lines a chance to arrive before closing.
      const quiet = Date.now() - lastActivity;
      if (quiet >= options.wait && ws.bufferedAmount === 0) ws.close(1000);
      else setTimeout(closeWhenQuiet, Math.max(10, options.wait - quiet));
    };
    rl.on('line', (line) => {
      send(line);
      if (interactive) rl.prompt();
    });
    rl.on('close', () => {
      inputEnded = true;
      if (ws.readyState !== WebSocket.OPEN) return;
      if (interactive) ws.close(1000);
      else closeWhenQuiet();
    });

    ws.onopen = () => {
      if (interactive) {
        process.stdout.write(`Connected to ${ws.url}${ws.protocol ? ` (protocol ${ws.protocol})` : ''}. Ctrl-D or Ctrl-C to quit.\n`);
        rl.prompt();
      }
      for (const line of early.splice(0)) ws.send(line);
      lastActivity = Date.now();
      if (inputEnded) {
        if (interactive) ws.close(1000);
        else closeWhenQuiet();
      }
    };
    ws.onmessage = (event) => {
      lastActivity = Date.now();
      print(interactive ? `< ${format(event.data)}` : format(event.data));
    };
    ws.onerror = (event) => {
      const error = (event as unknown as { error?: { code?: string; message?: string } }).error;
      process.stderr.write(`error: ${error?.message ?? 'connection failed'}${error?.code ? ` (${error.code})` : ''}\n`);
    };
    ws.onclose = (event) => {
      rl.close();
      if (interactive || !inputEnded || event.code !== 1000) {
        process.stderr.write(`closed: ${event.code}${event.reason ? ` ${event.reason}` : ''}\n`);
      }
      process.stdin.unref?.();
      resolve(event.code === 1000 || event.code === 1005 || event.wasClean ? 0 : 1);
    };
  });
}
