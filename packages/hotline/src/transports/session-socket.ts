import { CloseCode } from '../errors.js';
import type { ResolvedServerOptions } from '../server/options.js';
import { serverShellOptions } from '../server/peer.js';
import { type SharedFrame, WebSocketShell } from '../websocket/shell.js';
import type { ConnectionOwner } from '../websocket/owner.js';
import type { StreamSocket } from '../websocket/stream-socket.js';
import type { SendResult } from '../types.js';
import type { Sweep } from '../timers/sweep.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import { MAX_UPGRADE_MESSAGE_LENGTH, decodeUpgradeMessage, encodeUpgradeMessage } from '../protocol/session/upgrade-messages.js';

/**
 * A WebSocket that carries an HTTP session after an upgrade (the client started on a
 * polling transport and found that WebSocket gets through).
 *
 * The upgrade, loss-free and in order (the messages' grammar: `upgrade-messages.ts`):
 *
 *   client → `probe`            the WebSocket works end to end (a proxy may pass the
 *   server → `probe`            handshake yet drop frames); the HTTP session goes on
 *   client                      stops polling, aborts pending polls, waits for its POSTs
 *   client → `upgrade N`        N: the last sequence number it received over HTTP
 *   server → `upgraded R`       R: the last upstream sequence number the server has; then
 *                               every queued message after N, then new ones, as frames
 *   client                      sends its queued messages after R, then new ones
 *
 * From then on frames are the application's messages, as on any WebSocket: text as text,
 * binary as binary. Before `upgrade`, only the control messages above are allowed.
 */

/** What the socket needs from the session it may carry. */
export interface CarriedSession {
  /** `upgrade N` arrived on `socket`: switch to it (returns false to refuse). */
  upgradeTo(socket: SessionSocket, ack: number): boolean;
  carrierMessage(data: Buffer, isBinary: boolean): void;
  carrierDrain(): void;
  carrierClosed(socket: SessionSocket, code: number, reason: string): void;
}

/** What the socket takes from its server: settings, deadlines and budgets. */
export interface SessionSocketHost {
  readonly options: ResolvedServerOptions;
  readonly sweep: Sweep;
  readonly partial: ByteBudget;
  readonly outbound: ByteBudget;
}

/**
 * What the owner of session sockets does, each socket being the facade of its own shell.
 * One owner per server (`ownerFor`): a shell shares its settings with its owner's other
 * connections, and the settings are the server's.
 */
const sessionSocketOwner: ConnectionOwner<SessionSocket> = {
  message(socket, data, isBinary) {
    socket.received(data, isBinary);
  },
  drain(socket) {
    socket.drained();
  },
  close(socket, code, reason) {
    socket.closed(code, reason);
  },
};

/** A session's messages were framed for HTTP first: its carrier negotiates nothing. */
const UNCOMPRESSED = { protocol: '', extensions: '', codec: null } as const;

const ownerByHost = new WeakMap<SessionSocketHost, ConnectionOwner<SessionSocket>>();

function ownerFor(host: SessionSocketHost): ConnectionOwner<SessionSocket> {
  let owner = ownerByHost.get(host);
  if (owner === undefined) {
    owner = { ...sessionSocketOwner };
    ownerByHost.set(host, owner);
  }
  return owner;
}

export class SessionSocket {
  /** probe: control messages only; carrier: the session's messages. */
  private mode: 'probe' | 'carrier' = 'probe';
  private readonly session: CarriedSession;
  private readonly shell: WebSocketShell<SessionSocket>;

  constructor(socket: StreamSocket, head: Buffer, server: SessionSocketHost, session: CarriedSession) {
    const { options } = server;
    this.session = session;
    // Within the server's budgets like any WebSocket peer; not compressed: its messages
    // were framed for HTTP first.
    this.shell = new WebSocketShell(socket, ownerFor(server), this, server.sweep, serverShellOptions(options, server, UNCOMPRESSED));
    this.shell.start(head);
  }

  /** @internal The session switched to this socket. */
  carry(): void {
    this.mode = 'carrier';
  }

  get bufferedAmount(): number {
    return this.shell.bufferedAmount;
  }

  sendData(data: Buffer, isBinary: boolean, compress: boolean | undefined): SendResult {
    return this.shell.send(data, isBinary, compress);
  }

  sendShared(message: SharedFrame): SendResult {
    return this.shell.sendShared(message);
  }

  close(code?: number, reason?: string): void {
    this.shell.close(code, reason);
  }

  terminate(): void {
    this.shell.terminate();
  }

  /** @internal A message arrived: a control message while probing, the session's once carrying. */
  received(data: Buffer, isBinary: boolean): void {
    if (this.mode === 'carrier') {
      this.session.carrierMessage(data, isBinary);
      return;
    }
    // Only text frames spell a control message, and only short ones.
    const message = isBinary || data.length > MAX_UPGRADE_MESSAGE_LENGTH ? null : decodeUpgradeMessage(data.toString('utf8'));
    if (message?.type === 'probe') {
      this.shell.send(Buffer.from(encodeUpgradeMessage(message)), false, false);
      return;
    }
    if (message?.type === 'upgrade' && this.session.upgradeTo(this, message.seq)) return;
    // RFC 6455 §7.4.1: 1008 for a message that breaks the policy of this endpoint.
    this.shell.close(CloseCode.POLICY_VIOLATION, 'expected probe or upgrade');
  }

  /** @internal */
  drained(): void {
    if (this.mode === 'carrier') this.session.carrierDrain();
  }

  /** @internal */
  closed(code: number, reason: string): void {
    this.session.carrierClosed(this, code, reason);
  }
}
