import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransportError } from '../errors.js';
import type { Handshake } from '../protocol/session/wire.js';
import type { Route } from '../server/transport-contract.js';
import type { RouteParams, UpgradeAccept, UpgradeRequest } from '../types.js';
import { answerRejection } from './error-answer.js';
import type { HttpTransportName, ResolvedHttpTransportOptions } from './options.js';
import { PendingHandshake } from './pending-handshake.js';
import { HttpSession } from './session.js';
import type { SessionHost } from './session-host.js';
import type { SessionKeys } from './session-key.js';
import { newSessionId } from './session-owner.js';
import { createLink } from './transport-choice.js';
import { envelopeOf, envelopeOfTarget } from '../server/envelope-request.js';

/**
 * The handshake of an HTTP session (`GET path?transport=T`, no `sid`): the limits a new
 * session must fit (the server's, and those of its client key), the route's `upgrade`
 * hook — which may answer later, within the server's `handshakeTimeout` — and the answer
 * that opens the session on its transport.
 */

/** What a handshake needs from the registry. */
export interface HandshakeRegistry extends SessionHost {
  readonly options: ResolvedHttpTransportOptions;
  readonly keys: SessionKeys;
  /** This node's instance id, which prefixes the ids of its sessions (`session-owner.ts`). */
  readonly instanceId: string;
  /** The server is shutting down: no new session. */
  readonly closing: boolean;
  /** Live sessions plus handshakes waiting for their hook. */
  readonly load: number;
  /** The server's `handshakeTimeout`. */
  readonly handshakeTimeout: number;
  /** A handshake waits for its hook: sweep its deadline. */
  wait(pending: PendingHandshake): void;
  /** A waiting handshake is over. */
  settled(pending: PendingHandshake): void;
  /** A new session is open. */
  admit(session: HttpSession<any>): void;
  /** Answers `response` with an error, following it if its client does not read it. */
  respond(response: ServerResponse, status: number, code: string, message: string): void;
  /** Follows `response` if its client does not read it (an answer of no session). */
  answered(response: ServerResponse): void;
}

export function handshake(
  registry: HandshakeRegistry,
  request: IncomingMessage,
  response: ServerResponse,
  route: Route,
  params: RouteParams,
  transport: HttpTransportName,
  path: string,
  query: URLSearchParams,
): void {
  const { options, keys } = registry;
  if (registry.closing) throw new TransportError('HL_ERR_SERVER_CLOSING', 503, 'server is shutting down');
  if (registry.load >= options.maxSessions) {
    response.setHeader('Retry-After', '1');
    throw new TransportError('HL_ERR_TOO_MANY_SESSIONS', 503, 'too many sessions');
  }
  let key: string;
  try {
    key = String(options.sessionKey(request));
  } catch {
    // A bug in the application's key function: 500 without details, as for a hook.
    registry.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
    return;
  }
  // Sessions of one client: those it never came back for are bounded tightly, the
  // others loosely (many users may share an address); the global cap is the last line.
  if (keys.unconfirmed(key) >= options.maxUnconfirmedPerKey) {
    response.setHeader('Retry-After', '1');
    throw new TransportError('HL_ERR_TOO_MANY_UNCONFIRMED', 429, 'too many new sessions from this client that were never used');
  }
  if (keys.live(key) >= options.maxSessionsPerKey) {
    response.setHeader('Retry-After', '1');
    throw new TransportError('HL_ERR_TOO_MANY_SESSIONS_FOR_KEY', 429, 'too many sessions for this client');
  }
  // The universal client's envelope and positions: a bad `since` is refused before the hook runs.
  try {
    envelopeOf(query);
  } catch (error) {
    throw new TransportError('HL_ERR_BAD_SINCE', 400, (error as Error).message);
  }
  const upgradeRequest: UpgradeRequest = {
    url: request.url ?? '/',
    path,
    params,
    query,
    headers: request.headers,
    remoteAddress: request.socket.remoteAddress ?? '',
    transport,
    protocols: [],
    httpVersion: request.httpVersion,
  };
  let accepted: UpgradeAccept<unknown> | void | PromiseLike<UpgradeAccept<unknown> | void>;
  try {
    accepted = route.handler.upgrade?.(upgradeRequest);
  } catch (error) {
    answerRejection(response, error);
    registry.answered(response);
    return;
  }
  keys.open(key);
  if (typeof (accepted as PromiseLike<unknown> | undefined)?.then !== 'function') {
    openSession(registry, request, response, route, params, transport, path, key, accepted as UpgradeAccept<unknown> | void);
    return;
  }
  // Only a hook that answers later needs a deadline (and a place among the sessions).
  const pending = new PendingHandshake(request, response, route, params, transport, path, key, Date.now() + registry.handshakeTimeout);
  registry.wait(pending);
  Promise.resolve(accepted)
    .then(
      (value) => settle(registry, pending, value, undefined),
      (error: unknown) => settle(registry, pending, undefined, error ?? new Error('rejected')),
    )
    // Whatever goes wrong from here on fails this request alone, never the process.
    .catch(() => registry.respond(pending.response, 500, 'HL_ERR_HANDSHAKE_REJECTED', ''));
}

/** A handshake waiting for its hook is answered now (timed out, or the server is closing). */
export function abandonHandshake(registry: HandshakeRegistry, pending: PendingHandshake, status: number, code: string, message: string): void {
  pending.over = true;
  registry.settled(pending);
  registry.keys.close(pending.key, false);
  registry.respond(pending.response, status, code, message);
}

/** The async `upgrade` hook answered; too late (or after shutdown) is ignored. */
function settle(registry: HandshakeRegistry, pending: PendingHandshake, accepted: UpgradeAccept<unknown> | void, error: unknown): void {
  if (pending.over) return;
  pending.over = true;
  registry.settled(pending);
  if (error !== undefined) {
    registry.keys.close(pending.key, false);
    answerRejection(pending.response, error);
    registry.answered(pending.response);
    return;
  }
  openSession(registry, pending.request, pending.response, pending.route, pending.params, pending.transport, pending.path, pending.key, accepted);
}

function openSession(
  registry: HandshakeRegistry,
  request: IncomingMessage,
  response: ServerResponse,
  route: Route,
  params: RouteParams,
  transport: HttpTransportName,
  path: string,
  key: string,
  accepted: UpgradeAccept<unknown> | void,
): void {
  const { options, keys } = registry;
  if (response.destroyed || registry.closing) {
    keys.close(key, false);
    if (registry.closing) registry.respond(response, 503, 'HL_ERR_SERVER_CLOSING', 'server is shutting down');
    return;
  }
  try {
    if (accepted?.headers) for (const [name, value] of Object.entries(accepted.headers)) response.setHeader(name, value);
  } catch {
    // A header Node refuses (a line break in a value): a bug in the hook, as a throw.
    keys.close(key, false);
    for (const name of Object.keys(accepted?.headers ?? {})) response.removeHeader(name);
    registry.respond(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
    return;
  }
  // Unguessable, and naming this node, so that another node can route its requests here.
  const sid = newSessionId(registry.instanceId);
  // Checked by `handshake` already: read again here rather than carried through a pending hook.
  const envelope = envelopeOfTarget(request.url ?? '/');
  const session = new HttpSession(sid, transport, path, params, request.socket.remoteAddress ?? '', key, route.handler, accepted?.data, registry, envelope);
  const link = createLink(transport, session);
  session.link = link;
  registry.admit(session);
  const opening: Handshake = {
    sid,
    transport,
    hold: options.hold,
    interval: options.interval,
    heartbeat: options.heartbeat,
    sessionTimeout: options.sessionTimeout,
    maxBody: options.maxBody,
    ackDelay: options.ackDelay,
    maxPackets: options.maxPackets,
  };
  session.start();
  // The answer carries the open packet (or `session` event) and whatever `open` sent.
  link.answerHandshake(response, opening);
}
