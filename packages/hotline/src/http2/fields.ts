/**
 * RFC 9113 §8.2.2: the fields that speak of one HTTP/1.1 connection. HTTP/2 has none of
 * them: a message that carries one is malformed (TE is allowed, as "trailers" only, and
 * left to the callers that send it).
 */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding']);
