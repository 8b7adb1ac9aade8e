/**
 * Moving an HTTP session onto a WebSocket (the exchange is described in
 * `transports/session-socket.ts`; the messages and their order are the session core's).
 * Polling goes on until the probe answers; then it stops, pending polls are aborted and
 * the POST in flight finishes, so the last sequence numbers each side has are exact and
 * the WebSocket carries on from them: nothing lost, reordered or repeated. Any failure
 * before the switch resumes polling as if nothing happened.
 */
import { textDecoder } from '../protocol/session/wire.js';
import { webSocketUrl } from './driver.js';
import { type TimerHandle, type WebSocketLike, openWebSocket } from './io.js';
import { startClock } from './polling.js';
import type { SessionHost } from './session-host.js';
import { closeCodeOf, closeQuietly } from './websocket-driver.js';

interface CloseEventLike {
  code: number;
  reason: string;
  wasClean: boolean;
}

export class SessionUpgrade {
  /** The WebSocket being tried, then the one carrying the session; null once given up. */
  private ws: WebSocketLike | null = null;
  /** The WebSocket carries the session. */
  carrier = false;
  private closeRequested: { code: number; reason: string } | null = null;
  private deadline: TimerHandle | null = null;

  constructor(private readonly host: SessionHost) {}

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Opens the WebSocket and sends the probe once it is open; false when no WebSocket can be made. */
  start(): boolean {
    const host = this.host;
    let ws: WebSocketLike;
    try {
      ws = openWebSocket(host.owner.io, webSocketUrl(host.owner.url, { transport: 'websocket', sid: host.sid }));
    } catch {
      return false;
    }
    this.ws = ws;
    const probe = host.session.startUpgrade();
    this.deadline = host.timer(() => this.abandon(), host.session.openTimeout);
    ws.onopen = () => ws.send(probe);
    ws.onmessage = (event: { data: unknown }) => this.receive(ws, event.data);
    ws.onerror = () => undefined;
    ws.onclose = (event: CloseEventLike) => {
      if (host.stopped || ws !== this.ws) return;
      if (this.carrier) {
        host.closed(closeCodeOf(this.closeRequested, event), event.reason, event.wasClean);
      } else {
        this.abandon();
      }
    };
    return true;
  }

  private receive(ws: WebSocketLike, data: unknown): void {
    const host = this.host;
    if (host.stopped || ws !== this.ws) return;
    if (this.carrier) {
      host.owner.driverMessage(host, typeof data === 'string' ? data : (data as ArrayBuffer));
      return;
    }
    const step = typeof data === 'string' ? host.session.receiveUpgradeMessage(data) : 'abandon';
    if (step === 'pause') {
      void host.pause().then(() => {
        if (ws !== this.ws || host.stopped) return;
        ws.send(host.session.upgradeRequest());
      });
    } else if (step === 'switch') {
      this.switchTo(ws);
    } else {
      this.abandon();
    }
  }

  /** `upgraded R`: the server has our messages up to R; the rest go over the WebSocket. */
  private switchTo(ws: WebSocketLike): void {
    const host = this.host;
    this.carrier = true;
    this.clearDeadline();
    host.abortAll();
    for (const packet of host.session.resendAfter()) ws.send(packet.kind === 't' ? textDecoder.decode(packet.data) : packet.data);
    host.clearAckTimer();
    // The loops see `carried` and end; nothing polls any more.
    host.unpause();
    host.owner.driverUpgraded(host);
  }

  /** The upgrade failed before the switch: back to polling, as if nothing happened. */
  abandon(): void {
    const ws = this.ws;
    if (ws === null || this.carrier) return;
    this.ws = null;
    this.clearDeadline();
    closeQuietly(ws);
    const host = this.host;
    host.session.abandonUpgrade();
    if (host.paused && !host.stopped) {
      host.unpause();
      if (host.httpName === 'interval-polling') startClock(host);
      void host.flushUp(false);
    }
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    this.ws?.send(data);
  }

  close(code: number, reason: string): void {
    this.closeRequested = { code, reason };
    this.ws?.close(code, reason);
  }

  stop(): void {
    this.clearDeadline();
    const ws = this.ws;
    if (ws !== null) closeQuietly(ws);
  }

  private clearDeadline(): void {
    if (this.deadline !== null) this.host.clearTimer(this.deadline);
    this.deadline = null;
  }
}
