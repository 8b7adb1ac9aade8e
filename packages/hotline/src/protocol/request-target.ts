/**
 * The request-target of an HTTP/1.1 request (RFC 9112 §3.2), as routing needs it: the
 * path and query of the origin-form.
 *
 * A client sends origin-form (`/chat?room=1`) to an origin server, and absolute-form
 * (`http://example.com/chat?room=1`) to a proxy; §3.2.2 says an origin server MUST accept
 * absolute-form too (a proxy may forward it as it came), use the authority of the target
 * rather than Host, and route by the path. The other forms — authority-form for CONNECT,
 * asterisk-form for a server-wide OPTIONS — name no resource.
 */

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" authority.
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+\-.]*:\/\/[^/?#]*/;

/**
 * The origin-form (path and query) of a request-target, or null when the target names no
 * resource (asterisk-form, authority-form, anything else). An absolute-form target with
 * no path is the root (§3.2.2, RFC 3986 §6.2.3: an empty path is "/").
 */
export function originForm(target: string): string | null {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const absolute = ABSOLUTE_FORM.exec(target);
  if (absolute === null) return null;
  const rest = target.slice(absolute[0].length);
  if (rest === '') return '/';
  // A fragment is never sent (RFC 9112 §3.2); one that is, is not part of the target.
  if (rest.charCodeAt(0) === 0x23 /* # */) return '/';
  return rest.charCodeAt(0) === 0x3f /* ? */ ? '/' + rest : rest;
}
