import { randomBytes } from 'node:crypto';
import { invalidArgument, shown } from '../errors.js';

/**
 * Session ids name their owner: `<instanceId>.<random>`, the instance id of the node
 * that made the session (its pub/sub engine's) and 144 random bits. Behind a load
 * balancer without affinity, any node can read from a session id alone which node holds
 * the session, and send the request there (`forward.ts`). Both parts are base64url and
 * the separator is an unreserved character (RFC 3986 §2.3): the id goes in a query
 * string as it is.
 */

/** An engine's instance id (the contract: base64url, 8 to 16 characters). */
const INSTANCE_ID = /^[A-Za-z0-9_-]{8,16}$/;
/** 18 random bytes are 24 base64url characters, without padding. */
const RANDOM_BYTES = 18;
const SESSION_ID = /^([A-Za-z0-9_-]{8,16})\.[A-Za-z0-9_-]{24}$/;

/** The longest session id a node makes: 16 + 1 + 24 characters. */
export const MAX_SESSION_ID_LENGTH = 41;

/**
 * Checks an engine's instance id once, when the transports are made: an id that does not
 * keep the contract would make session ids no node can route, or that break the query.
 */
export function checkInstanceId(instanceId: unknown): string {
  if (typeof instanceId !== 'string' || !INSTANCE_ID.test(instanceId)) {
    throw invalidArgument(`the engine's instanceId must be 8 to 16 base64url characters (got ${shown(instanceId)})`);
  }
  return instanceId;
}

/** A new session id owned by `instanceId`: 144 bits from the CSPRNG, since an id is a bearer credential. */
export function newSessionId(instanceId: string): string {
  return `${instanceId}.${randomBytes(RANDOM_BYTES).toString('base64url')}`;
}

/** The instance id that owns `sid`, or undefined when `sid` is not a session id of this shape. */
export function sessionOwner(sid: string): string | undefined {
  if (sid.length > MAX_SESSION_ID_LENGTH) return undefined;
  return SESSION_ID.exec(sid)?.[1];
}
