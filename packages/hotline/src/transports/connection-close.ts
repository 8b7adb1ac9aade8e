import type { ServerResponse } from 'node:http';

/**
 * Ends the connection after this answer (a body not worth reading goes with it). HTTP/1.1
 * says so with `Connection: close` (RFC 9112 §9.6). HTTP/2 has no such field (RFC 9113
 * §8.2.2): the answer ends its stream alone, and node:http2 resets the stream's unread
 * request body (RST_STREAM) once the answer is sent, leaving the connection's other
 * streams alone.
 */
export function closeAfterAnswer(response: ServerResponse): void {
  if (response.req.httpVersionMajor < 2) response.setHeader('Connection', 'close');
}
