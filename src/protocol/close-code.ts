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
 * A Close frame's payload is a 2-byte code and at most 123 bytes of UTF-8 reason:
 * §5.5 caps control frame payloads at 125 bytes.
 */
export const MAX_CLOSE_REASON_BYTES = 123;
