import type { Socket } from 'node:net';
import { CloseCode, HandshakeError } from '../errors.js';
import { rejectResponse } from '../protocol/handshake.js';
import type { Opening } from '../server/opening.js';
import type { QueuedPacket } from '../protocol/session/server-session.js';
import { encodeUpgradeMessage } from '../protocol/session/upgrade-messages.js';
import type { Server } from '../server/server.js';
import type { UpgradeHead } from '../server/transport-contract.js';
import { Transport } from '../types.js';
import { toBuffer } from '../websocket/payload.js';
import { ENDED, type EndReason } from './ended-sessions.js';
import { refuseSocket } from './refusal.js';
import { type CarriedSession, SessionSocket } from './session-socket.js';

/**
 * The session upgrade, server side: a WebSocket handshake that names a session
 * (`?transport=websocket&sid=`) opens a socket that is probed first, then carries the
 * session once the client sends `upgrade N` (the exchange: `session-socket.ts`; its
 * messages: `upgrade-messages.ts`, the one codec both sides use).
 */

/** What the upgrade needs of a session. */
export interface UpgradableSession extends CarriedSession {
  /** Whether a WebSocket may attach now (open, not carried already). */
  readonly upgradable: boolean;
  /** A WebSocket for the session was opened: it is probed, not used yet. */
  attachProbe(socket: SessionSocket): void;
}

/** What the upgrade needs from the registry. */
export interface UpgradeRegistry {
  readonly server: Server;
  /** The live session `sid` on `path`, else why it ended (if it did recently). */
  lookup(sid: string, path: string): UpgradableSession | EndReason | undefined;
  /** A session unknown here: true when its owner is another node, which the upgrade is tunnelled to. */
  forwardUpgrade(sid: string, request: UpgradeHead, socket: Socket, head: Buffer): boolean;
}

/**
 * Claims a WebSocket handshake that names a session; returns false for any other
 * upgrade (the server's as before). A refusal ends the socket on a deadline (refusal.ts).
 */
export function claimSessionUpgrade(registry: UpgradeRegistry, request: UpgradeHead, opening: Opening, head: Buffer): boolean {
  const url = request.url ?? '/';
  const q = url.indexOf('?');
  if (q === -1) return false;
  const query = new URLSearchParams(url.slice(q + 1));
  const sid = query.get('sid');
  if (query.get('transport') !== Transport.WEBSOCKET || sid === null) return false;
  const path = url.slice(0, q);
  const server = registry.server;
  if (server.findRoute(path) === null) return false;
  opening.guard();
  const connection = opening.connection;
  try {
    const validated = opening.validate(request);
    const session = registry.lookup(sid, path);
    // A tunnel to the owner carries the bytes of an HTTP/1.1 connection; a session met over
    // an HTTP/2 stream stays on its HTTP transport, whose requests are forwarded one by one.
    if (session === undefined && connection !== null && registry.forwardUpgrade(sid, request, connection, head)) {
      opening.unguard();
      return true;
    }
    if (session === undefined) throw new HandshakeError('HL_ERR_UNKNOWN_SESSION', 400, 'unknown session id');
    if (typeof session === 'string') throw new HandshakeError(ENDED[session][0], 410, 'session ended');
    if (!session.upgradable) throw new HandshakeError('HL_ERR_TRANSPORT_MISMATCH', 400, 'session cannot be upgraded now');
    opening.accept({ key: validated.key, protocol: '', extensions: '' });
    opening.unguard();
    session.attachProbe(new SessionSocket(opening.socket, head, server, session));
  } catch (error) {
    const refusal = error instanceof HandshakeError ? error : new HandshakeError('HL_ERR_HANDSHAKE_REJECTED', 500, '');
    if (connection !== null) refuseSocket(connection, rejectResponse(refusal.status, refusal.message, refusal.headers as Record<string, string>), server.sweep);
    else opening.refuse(refusal);
  }
  return true;
}

/**
 * `upgrade N` was accepted: the socket carries the session from now on. It says
 * `upgraded R` (the last upstream number the server has), then carries every message
 * still unacknowledged, in order, as frames — text as text, binary as binary.
 */
export function carrySession(socket: SessionSocket, received: number, packets: readonly QueuedPacket[]): void {
  socket.carry();
  socket.sendData(Buffer.from(encodeUpgradeMessage({ type: 'upgraded', seq: received })), false, false);
  for (let i = 0; i < packets.length; i++) {
    const packet = packets[i]!;
    socket.sendData(toBuffer(packet.data), packet.kind === 'b', undefined);
  }
}

/** RFC 6455 §7.4.1: 1008, the socket broke this endpoint's policy (it never upgraded in time). */
export function expireProbe(socket: SessionSocket): void {
  socket.close(CloseCode.POLICY_VIOLATION, 'upgrade timed out');
}

/** A second upgrade of the same session replaces the probe of the first. */
export function replaceProbe(socket: SessionSocket): void {
  socket.close(CloseCode.POLICY_VIOLATION, 'replaced by another upgrade');
}
