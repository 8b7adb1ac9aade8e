/**
 * The four states of a connection, as RFC 6455 §4.1 and §7 name them and as the WHATWG
 * WebSocket API numbers them (`readyState`). The one definition: the protocol core, the
 * shell, the server's peers, the HTTP sessions and both clients all use these values.
 * The protocol core itself starts at OPEN: a `Protocol` exists only once the opening
 * handshake has succeeded, and CONNECTING belongs to whoever runs the handshake.
 */
export const ReadyState = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];
