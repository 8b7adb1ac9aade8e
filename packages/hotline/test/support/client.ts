/**
 * Hotline's own WHATWG client in tests: open with a deadline, and record every event in
 * the order it was dispatched, with the readyState seen at that moment.
 */
import { WebSocket, type WebSocketOptions } from '../../src/client/websocket.js';
import type { CloseEvent, ErrorEvent } from '../../src/client/events.js';
import { withTimeout } from './timing.js';

export interface Seen {
  type: string;
  readyState: number;
  data?: unknown;
  code?: number;
  reason?: string;
  wasClean?: boolean;
  error?: { code?: string; status?: number; message?: string } | undefined;
}

/** Records every event of `ws`, in order. */
export function record(ws: WebSocket): Seen[] {
  const seen: Seen[] = [];
  for (const type of ['open', 'message', 'error', 'close'] as const) {
    ws.addEventListener(type, (event) => {
      const entry: Seen = { type, readyState: ws.readyState };
      if (type === 'message') entry.data = (event as MessageEvent).data;
      if (type === 'close') {
        const close = event as unknown as CloseEvent;
        entry.code = close.code;
        entry.reason = close.reason;
        entry.wasClean = close.wasClean;
      }
      if (type === 'error') entry.error = (event as unknown as ErrorEvent).error as Seen['error'];
      seen.push(entry);
    });
  }
  return seen;
}

export function openClient(url: string, protocols: string | string[] = [], options: WebSocketOptions = {}, ms = 2000): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(ws), { once: true });
      ws.addEventListener('error', (event) => reject((event as unknown as ErrorEvent).error), { once: true });
    }),
    ms,
    `the client to open ${url}`,
  );
}

export function closed(ws: WebSocket, ms = 2000): Promise<CloseEvent> {
  return withTimeout(
    new Promise<CloseEvent>((resolve) => ws.addEventListener('close', (event) => resolve(event as unknown as CloseEvent), { once: true })),
    ms,
    'the client to close',
  );
}

export function nextMessage(ws: WebSocket, ms = 2000): Promise<unknown> {
  return withTimeout(
    new Promise((resolve) => ws.addEventListener('message', (event) => resolve((event as MessageEvent).data), { once: true })),
    ms,
    'a message',
  );
}
