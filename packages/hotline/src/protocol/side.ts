/**
 * RFC 6455 treats the two ends of a connection differently (§5.1: a client masks every
 * frame it sends, a server masks none). One implementation serves both; `side` says
 * which rules apply.
 */
export const Side = {
  SERVER: 'server',
  CLIENT: 'client',
} as const;
export type Side = (typeof Side)[keyof typeof Side];
