import type { IncomingMessage } from 'node:http';
import { TransportError } from '../errors.js';
import type { ServerSession } from '../protocol/session/server-session.js';
import { Transport } from '../types.js';
import { LongPoll } from './long-poll.js';
import type { HttpTransportName } from './options.js';
import { Polling } from './polling.js';
import type { LinkedSession, SessionLink } from './session-link.js';
import { SseStream } from './sse.js';

/**
 * Which `?transport=` is served how: the one place that maps a transport's name to the
 * link that owns its responses, and to where its requests say what the client has.
 */
export function createLink(transport: HttpTransportName, session: LinkedSession): SessionLink {
  switch (transport) {
    case Transport.SSE:
      return new SseStream(session);
    case Transport.LONG_POLLING:
      return new LongPoll(session);
    case Transport.POLLING:
      return new Polling(session, false);
    case Transport.INTERVAL_POLLING:
      return new Polling(session, true);
  }
}

/**
 * The last sequence number the client has: `ack`, or on SSE the `Last-Event-ID` a native
 * EventSource sends when it reconnects on its own. It may not name a message never sent:
 * an ack frees what it names, so only what this session really handed to a response.
 */
export function requestedAck(query: URLSearchParams, request: IncomingMessage, transport: HttpTransportName, core: ServerSession): number {
  let value = query.get('ack');
  if (value === null && transport === Transport.SSE) {
    const header = request.headers['last-event-id'];
    if (typeof header === 'string' && header !== '') value = header;
  }
  if (value === null) return 0;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(value)) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, 'ack must be a decimal integer');
  const ack = Number(value);
  if (!core.mayAcknowledge(ack)) throw new TransportError('HL_ERR_MALFORMED_QUERY', 400, 'ack names a message this session has not sent');
  return ack;
}
