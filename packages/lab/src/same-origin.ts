import type { IncomingHttpHeaders } from 'node:http';

/**
 * Whether a request may act on the lab (post a report, change the stream, join the chat):
 * a browser names the page that makes a request in `Origin` (RFC 6454 §7) on every POST
 * and every WebSocket handshake (RFC 6455 §4.1, §10.2), so a request whose Origin is not
 * this server comes from another site's page, which must not read the chat or steer the
 * stream. A request without Origin is not a browser's cross-origin one (a script, curl,
 * the bench) and is let through: Origin guards visitors' browsers, not the server.
 */
export function isSameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  // HTTP/2 names the host in the :authority pseudo-header instead (RFC 9113 §8.3.1).
  const host = headers.host ?? (headers[':authority'] as string | undefined);
  if (host === undefined) return false;
  // "null" (a sandboxed frame, a file: page) and anything unparsable are other origins.
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}
