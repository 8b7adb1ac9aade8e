/**
 * RFC 6455 §7.4: which status codes may appear in a Close frame. Used for both what a
 * peer sends us (a bad one fails the connection with 1002) and what the API lets an
 * application send.
 */

/**
 * §7.4.1 defines 1000-1003 and 1007-1011; IANA's registry adds 1012-1014 (restart, try
 * again later, bad gateway). 1004 is reserved; 1005, 1006 and 1015 are reserved for
 * reporting and "MUST NOT be set as a status code in a Close control frame" (§7.4.1).
 * §7.4.2: 3000-3999 are registered with IANA for libraries and frameworks, 4000-4999
 * are for private use. Everything else (0-999, 1016-2999, 5000+) is invalid.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * The WebSocket API's rule for what a script may close with (WHATWG WebSockets, the
 * `close()` method): 1000, or a code from the ranges §7.4.2 gives applications. The
 * server's API is wider (`isValidCloseCode`: it may say 1001 going away, 1008 policy, …);
 * both clients, and the HTTP transports reading a client's close packet, use this one.
 */
export function isApplicationCloseCode(code: number): boolean {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999);
}

/**
 * A Close frame's payload is a 2-byte code and at most 123 bytes of UTF-8 reason:
 * §5.5 caps control frame payloads at 125 bytes.
 */
export const MAX_CLOSE_REASON_BYTES = 123;
