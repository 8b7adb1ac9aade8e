import type { AgentOptions } from 'node:https';
import { WebSocket } from '../client/websocket.js';
import { UsageError } from './args.js';
import { LineSession } from './line-session.js';

/** What `hotline connect` was asked for, checked (connect-options.ts). */
export interface ConnectOptions {
  url: string;
  protocols: string[];
  headers: Record<string, string>;
  /** ms at most for the pipe rule. */
  wait: number;
  execute: string[];
  noColor: boolean;
  showPingPong: boolean;
  deflate: boolean;
  /** `--http2`: the WebSocket over HTTP/2 (RFC 8441). */
  http2?: boolean;
  /** `--ca`, `--no-check` (`--insecure`): for wss:// and https://. */
  tls?: AgentOptions;
}

/** Parses repeated `-H 'Name: value'` flags. */
export function parseHeaders(values: string[], usage = ''): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new UsageError(`-H expects "Name: value", got ${JSON.stringify(value)}`, usage);
    headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * The payload of the pings the pipe rule sends: their pongs mark the end of a receive
 * cycle (RFC 6455 §5.5.3: a Pong carries the Ping's data), and are not printed.
 */
export const CYCLE_PING = 'hotline-cycle:';

/** Counts the pongs to our cycle pings, and prints the others with `-P`. */
export class PingCycle {
  sent = 0;
  answered = 0;

  begin(ws: WebSocket): number {
    ws.ping(Buffer.from(CYCLE_PING + ++this.sent));
    return this.sent;
  }

  /** True when the pong answered one of our cycle pings. */
  pong(data: Buffer): boolean {
    const text = data.toString('latin1');
    if (!text.startsWith(CYCLE_PING)) return false;
    this.answered = Math.max(this.answered, Number(text.slice(CYCLE_PING.length)) || 0);
    return true;
  }
}

/**
 * `hotline connect URL`: the Node WebSocket client, driven by a LineSession (terminal,
 * pipe or `-x`). Resolves with the process exit code.
 */
export function connect(options: ConnectOptions): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url, options.protocols, {
      headers: options.headers,
      perMessageDeflate: options.deflate,
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      ...(options.http2 === true ? { http2: true } : {}),
    });
    ws.binaryType = 'arraybuffer';
    const cycle = new PingCycle();
    // Lines typed (or piped) before the handshake completes are sent once it does.
    const early: string[] = [];
    let earlyBytes = 0;
    const session = new LineSession(
      {
        get readyState() {
          return ws.readyState;
        },
        get bufferedAmount() {
          return ws.bufferedAmount + earlyBytes;
        },
        send: (line) => ws.send(line),
        close: (code) => ws.close(code),
        beginCycle: () => cycle.begin(ws),
        cycleDone: (token) => cycle.answered >= token,
      },
      { wait: options.wait, execute: options.execute, noColor: options.noColor },
      (line) => {
        if (ws.readyState === WebSocket.CONNECTING) {
          early.push(line);
          earlyBytes += Buffer.byteLength(line);
        } else if (ws.readyState === WebSocket.OPEN) {
          ws.send(line);
        }
      },
    );
    ws.onopen = () => {
      for (const line of early.splice(0)) ws.send(line);
      earlyBytes = 0;
      session.opened(`Connected to ${ws.url}${ws.protocol ? ` (subprotocol ${ws.protocol})` : ''}.`);
    };
    ws.onmessage = (event) => session.received(event.data as string | ArrayBuffer);
    ws.addEventListener('pong', (event) => {
      const data = (event as unknown as { data: Buffer }).data;
      if (!cycle.pong(data) && options.showPingPong) session.control('pong', data);
    });
    if (options.showPingPong) ws.addEventListener('ping', (event) => session.control('ping', (event as unknown as { data: Buffer }).data));
    ws.onerror = (event) => {
      const error = (event as unknown as { error?: { code?: string; message?: string } }).error;
      session.report(`error: ${error?.message || 'connection failed'}${error?.code ? ` (${error.code})` : ''}`);
    };
    ws.onclose = (event) => resolve(session.closed(event.code, event.reason));
  });
}
