import type { IncomingMessage, ServerResponse } from 'node:http';
import { TransportError } from '../errors.js';
import type { ResolvedCorsOptions } from './options.js';

/**
 * Cross-origin access to the HTTP transports (https://fetch.spec.whatwg.org/#http-cors-protocol).
 * Off by default: same-origin pages need none of it. The WebSocket route is not covered —
 * browsers do not apply CORS to WebSocket; check `Origin` in the `upgrade` hook there.
 */

function allowed(origin: string, cors: ResolvedCorsOptions): boolean {
  if (cors.origins === '*') return true;
  if (typeof cors.origins === 'function') return cors.origins(origin);
  return cors.origins.includes(origin);
}

/** Headers for an actual request, or null when the request is same-origin or not allowed. */
export function corsHeaders(request: IncomingMessage, cors: ResolvedCorsOptions | false): Record<string, string> | null {
  const origin = request.headers.origin;
  if (cors === false || typeof origin !== 'string' || !allowed(origin, cors)) return null;
  const headers: Record<string, string> = {
    // With credentials, `*` is not allowed by the spec: echo the origin instead.
    'Access-Control-Allow-Origin': cors.origins === '*' && !cors.credentials ? '*' : origin,
    Vary: 'Origin',
  };
  if (cors.credentials) headers['Access-Control-Allow-Credentials'] = 'true';
  return headers;
}

/** Answers a preflight: 204 with what may be sent, or 403 HL_ERR_ORIGIN_NOT_ALLOWED. */
export function preflight(request: IncomingMessage, response: ServerResponse, cors: ResolvedCorsOptions | false): void {
  const origin = request.headers.origin;
  if (cors === false || typeof origin !== 'string' || !allowed(origin, cors)) {
    throw new TransportError('HL_ERR_ORIGIN_NOT_ALLOWED', 403, 'cross-origin requests are not allowed from this origin');
  }
  response.writeHead(204, {
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    // Content-Type for POST bodies, Last-Event-ID for EventSource-style SSE resumption.
    'Access-Control-Allow-Headers': 'Content-Type, Last-Event-ID',
    'Access-Control-Max-Age': String(cors.maxAge),
  });
  response.end();
}
