/**
 * A strict reader of HTTP/1.1 request heads (RFC 9112 §2-§5), for the opening handshake
 * of RFC 6455 §4.1 only. It accepts the plain heads every WebSocket client sends and
 * gives up (`null`) on anything else: a malformed line, an obsolete line folding, a
 * repeated field, a body. Giving up is not refusing: the caller hands such a request
 * to a full HTTP server, which answers it as it always would. So this reader never has
 * to be as complete as an HTTP parser, only never more lenient than one.
 */

export interface RequestHead {
  readonly method: string;
  /** The request-target as sent (origin-form for a handshake: path and query). */
  readonly url: string;
  /** "1.1" or "1.0". */
  readonly httpVersion: string;
  /** Field names lowercased, as Node's `IncomingMessage.headers`. */
  readonly headers: Record<string, string>;
}

/** Longest head read this way; longer ones go to the HTTP server (which may answer 431). */
export const MAX_HEAD_BYTES = 16 * 1024;

const END_OF_HEAD = '\r\n\r\n';

/** Offset of the blank line that ends the head in `data`, or -1 when it is not there (yet). */
export function findEndOfHead(data: Buffer): number {
  return data.indexOf(END_OF_HEAD, 0, 'latin1');
}

// RFC 9110 §5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9112 §3: request-line = method SP request-target SP HTTP-version. Only what a
// handshake sends is read here: GET (RFC 6455 §4.1) and an origin-form target ("/" then
// visible ASCII, §3.2.1). Any other method or form goes to the full parser, so that the
// answer does not depend on whether the head came in one read or several.
const REQUEST_LINE = /^(GET) (\/[\x21-\x7e]*) HTTP\/1\.([01])$/;
/**
 * An http.Server keeps the first 2,000 entries of a head (`maxHeadersCount`: 1,000
 * fields) and drops the rest; a head with more goes to it, to be read the same way.
 */
const MAX_FIELDS = 1000;
// RFC 9110 §5.5: field-value = *field-content, VCHAR / obs-text with SP and HTAB inside.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Reads the head in `data[0, end)`, `end` being what `findEndOfHead` returned. Returns
 * null for anything but a plain, well-formed head without a body.
 */
export function parseRequestHead(data: Buffer, end: number): RequestHead | null {
  if (end < 0 || end > MAX_HEAD_BYTES) return null;
  const lines = data.toString('latin1', 0, end).split('\r\n');
  const requestLine = REQUEST_LINE.exec(lines[0]!);
  if (requestLine === null) return null;
  if (lines.length - 1 > MAX_FIELDS) return null;
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // §5.1: no whitespace between name and colon; §5.2: obs-fold (a line starting with
    // SP or HTAB) is rejected or replaced by a full parser, so it is left to one.
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return null;
    const value = trimOws(line.slice(colon + 1));
    if (!FIELD_VALUE.test(value)) return null;
    const key = name.toLowerCase();
    // Repeated fields are combined by rules that differ per field (RFC 9110 §5.3); a
    // handshake never repeats one, so a head that does goes to the full parser.
    // Set-Cookie is the one field Node keeps as a list, even when it comes once.
    if (key === '__proto__' || key === 'set-cookie' || Object.hasOwn(headers, key)) return null;
    headers[key] = value;
  }
  // A handshake has no body (RFC 6455 §4.1 is a GET); framing one is the full parser's job.
  if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return null;
  return { method: requestLine[1]!, url: requestLine[2]!, httpVersion: `1.${requestLine[3]!}`, headers };
}

/** RFC 9110 §5.5: optional whitespace (SP, HTAB) around a field value is not part of it. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return value.slice(start, end);
}

/**
 * Whether the head is an upgrade to WebSocket: an Upgrade field naming the protocol
 * (RFC 6455 §4.1 item 5) and a Connection field with the "upgrade" option (item 6; RFC
 * 9110 §7.8 makes Upgrade without it meaningless). Tokens are case-insensitive. Without
 * both, an HTTP server treats the request as an ordinary one, and so does the caller.
 */
export function isWebSocketUpgrade(head: RequestHead): boolean {
  return hasToken(head.headers['upgrade'], 'websocket') && hasToken(head.headers['connection'], 'upgrade');
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((item) => item.trim().toLowerCase() === token);
}
