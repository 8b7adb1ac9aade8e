import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../server/transport-contract.js';
import type { RouteParams } from '../types.js';
import type { HttpTransportName } from './options.js';

/**
 * A handshake whose `upgrade` hook answered with a promise: it holds a place (among the
 * sessions of the server and of its client key) until the promise settles or the
 * server's `handshakeTimeout` passes, whichever comes first — after which it is answered
 * 408 and a late answer of the hook is ignored. The same deadline as for a WebSocket
 * handshake, on the registry's sweep (no timer per request).
 */
export class PendingHandshake {
  /** Settled, timed out or abandoned: nothing more happens to it. */
  over = false;

  constructor(
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
    readonly route: Route,
    readonly params: RouteParams,
    readonly transport: HttpTransportName,
    readonly path: string,
    readonly key: string,
    readonly deadline: number,
  ) {}
}
