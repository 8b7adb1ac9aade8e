import type { ServerResponse } from 'node:http';
import { TransportError } from '../errors.js';
import { UpgradeRejection } from '../types.js';

/**
 * The answers to requests the transports refuse: a precise status and a JSON body
 * `{ code, message }` whose code is a stable `HL_ERR_*`. A bug in the application (a hook
 * that throws, a header Node refuses) is a 500 without details, as for WebSocket.
 */

/** Answers `response` with `status` and `{ code, message }`, unless it was answered already. */
export function answerError(response: ServerResponse, status: number, code: string, message: string): void {
  if (response.headersSent || response.destroyed) return;
  const body = JSON.stringify({ code, message });
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

/** A TransportError's status and code; anything else is ours to hide: 500. */
export function answerFailure(response: ServerResponse, error: unknown): void {
  if (error instanceof TransportError) answerError(response, error.status, error.code, error.message);
  else answerError(response, 500, 'HL_ERR_INVALID_STATE', '');
}

/** The `upgrade` hook refused the handshake: its status and headers, or 500 if it threw. */
export function answerRejection(response: ServerResponse, error: unknown): void {
  if (!(error instanceof UpgradeRejection)) {
    answerError(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
    return;
  }
  try {
    for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
  } catch {
    answerError(response, 500, 'HL_ERR_HANDSHAKE_REJECTED', '');
    return;
  }
  answerError(response, error.status, 'HL_ERR_HANDSHAKE_REJECTED', error.message);
}
