/**
 * What a connection request (a WebSocket handshake, an HTTP session's handshake) asks of
 * the envelope: `envelope=1` marks the connection enveloped, and `since` carries the
 * positions the client comes back with (see `protocol/session/envelope.ts`). Read in
 * one place so that every transport accepts and refuses the same requests.
 *
 * Without `envelope=1` the request is a plain client's and nothing is read (a `since` of
 * the application's own is left alone). With it, a malformed `since` refuses the whole
 * request: 400 `HL_ERR_BAD_SINCE` — a client that meant to recover must not silently
 * get a connection that does not.
 */
import { HotlineError } from '../errors.js';
import { ENVELOPE_PARAM, SINCE_PARAM, decodeSince } from '../protocol/session/envelope.js';
import { RecoveryGate } from './recovery.js';

/** The gate of an enveloped connection (its `since`, possibly empty), or null for a plain one. Throws `HL_ERR_BAD_SINCE`. */
export function envelopeOf(query: URLSearchParams): RecoveryGate | null {
  if (query.get(ENVELOPE_PARAM) !== '1') return null;
  const since = query.get(SINCE_PARAM);
  if (since === null) return new RecoveryGate(new Map());
  try {
    return new RecoveryGate(decodeSince(since));
  } catch (error) {
    throw new HotlineError('HL_ERR_BAD_SINCE', `bad ${SINCE_PARAM}: ${(error as Error).message}`);
  }
}

/**
 * `envelopeOf` for a request-target in origin-form (`/path?query`). A target that cannot
 * ask for the envelope (nearly every plain handshake) is not parsed at all.
 */
export function envelopeOfTarget(url: string): RecoveryGate | null {
  const at = url.indexOf('?');
  if (at === -1 || !url.includes(ENVELOPE_PARAM, at)) return null;
  return envelopeOf(new URLSearchParams(url.slice(at + 1)));
}
