/**
 * The WebSocket transport: one WebSocket, its events turned into the driver callbacks.
 * WebSocket has its own framing and close handshake (RFC 6455), so there is no session
 * core here; what it adds is the open deadline.
 */
import { ReadyState } from '../protocol/ready-state.js';
import { type Driver, type DriverOwner, type Outgoing, webSocketUrl } from './driver.js';
import { type TimerHandle, type WebSocketLike, openWebSocket } from './io.js';

interface CloseEventLike {
  code: number;
  reason: string;
  wasClean: boolean;
}

export class WebSocketDriver implements Driver {
  readonly name = 'websocket' as const;
  readonly sid = '';
  readonly handshake = null;
  private ws: WebSocketLike | null = null;
  private opened = false;
  private stopped = false;
  private timer: TimerHandle | null = null;
  private closeRequested: { code: number; reason: string } | null = null;

  constructor(private readonly owner: DriverOwner) {}

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    const io = this.owner.io;
    let ws: WebSocketLike;
    try {
      ws = openWebSocket(io, webSocketUrl(this.owner.url, { transport: 'websocket', ...this.owner.handshakeParams?.() }));
    } catch (error) {
      queueMicrotask(() => this.owner.driverFailed(this, error as Error));
      return;
    }
    this.ws = ws;
    // A proxy that accepts the connection and never answers the Upgrade is "blocked" too.
    this.timer = io.setTimeout(() => {
      this.timer = null;
      if (!this.opened) this.owner.driverFailed(this, new Error('WebSocket did not open in time'));
    }, this.owner.options.openTimeout);
    ws.onopen = () => {
      if (this.stopped) return;
      this.opened = true;
      this.clearTimer();
      this.owner.driverOpened(this);
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.stopped) return;
      const data = event.data;
      this.owner.driverMessage(this, typeof data === 'string' ? data : (data as ArrayBuffer));
    };
    ws.onerror = () => {
      // `close` follows and says what happened.
    };
    ws.onclose = (event: CloseEventLike) => {
      if (this.stopped) return;
      this.clearTimer();
      if (!this.opened) {
        this.owner.driverFailed(this, new Error(`WebSocket failed (${event.code})`));
        return;
      }
      this.owner.driverClosed(this, closeCodeOf(this.closeRequested, event), event.reason, event.wasClean);
    };
  }

  send(message: Outgoing): void {
    this.ws?.send(message.raw);
  }

  close(code: number, reason: string): void {
    this.closeRequested = { code, reason };
    this.ws?.close(code, reason);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    if (this.ws !== null) closeQuietly(this.ws);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.owner.io.clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * The code to report for a close: a server that echoes our Close frame without a code
 * (RFC 6455 §7.1.5: then 1005, "no status") still ended with the code we asked for.
 */
export function closeCodeOf(requested: { code: number } | null, event: { code: number }): number {
  return requested !== null && event.code === 1005 ? requested.code : event.code;
}

/** Closes a WebSocket that may already be closing. */
export function closeQuietly(ws: WebSocketLike): void {
  if (ws.readyState >= ReadyState.CLOSING) return;
  try {
    ws.close(1000);
  } catch {
    // already closing
  }
}
