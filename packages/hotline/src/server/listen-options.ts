import http2, { type Http2SecureServer, type Http2Server } from 'node:http2';
import https, { type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { checkOptions, invalidArgument, shown } from '../errors.js';
import type { ResolvedServerOptions } from './options.js';

/**
 * `server.listen(options)`: where to listen, and whether over TLS.
 *
 *   await server.listen({ port: 8443, tls: { key, cert } });
 *
 * With `tls`, the port speaks HTTPS: HTTP/2 and HTTP/1.1 chosen by ALPN (RFC 7301), every
 * transport on both — WebSocket over HTTP/2 streams (RFC 8441) as well as by the HTTP/1.1
 * upgrade — unless `http2: false` (HTTPS over HTTP/1.1 only).
 */
export interface ListenOptions {
  /** 0 for any free port. */
  port: number;
  host?: string;
  /**
   * The certificate and its key (`key` and `cert`, or `pfx`), and any other option of
   * `tls.createSecureContext` (`ca`, `passphrase`, `ciphers`...). Without it, plain HTTP.
   */
  tls?: SecureContextOptions & Pick<TlsOptions, 'ALPNProtocols' | 'requestCert' | 'rejectUnauthorized'>;
  /** Over TLS, offer HTTP/2 beside HTTP/1.1. Default true. */
  http2?: boolean;
  /** The answer to requests outside the routes (404 by default). */
  fallback?: (request: IncomingMessage, response: ServerResponse) => void;
}

export interface ResolvedListenOptions {
  port: number;
  host: string | undefined;
  tls: ListenOptions['tls'] | null;
  http2: boolean;
  fallback: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
}

const LISTEN_KEYS: readonly (keyof ListenOptions)[] = ['port', 'host', 'tls', 'http2', 'fallback'];

export function resolveListenOptions(options: ListenOptions): ResolvedListenOptions {
  checkOptions(options, LISTEN_KEYS, 'the listen options');
  const { port, host, tls, http2: offerHttp2 = true, fallback } = options;
  if (tls !== undefined) {
    if (typeof tls !== 'object' || tls === null) throw invalidArgument(`listen: tls must be an object of TLS options (got ${shown(tls)})`);
    const hasPair = tls.key !== undefined && tls.cert !== undefined;
    if (!hasPair && tls.pfx === undefined) throw invalidArgument('listen: tls needs a key and a cert (or a pfx)');
  }
  if (typeof offerHttp2 !== 'boolean') throw invalidArgument(`listen: http2 must be a boolean (got ${shown(offerHttp2)})`);
  return { port, host, tls: tls ?? null, http2: offerHttp2, fallback };
}

/**
 * Most streams a client may have open at once on one HTTP/2 connection (RFC 9113 §6.5.2
 * SETTINGS_MAX_CONCURRENT_STREAMS). nghttp2's default is unlimited; a page needs a few
 * dozen at most (its polls, its event streams, its WebSockets), and beyond this number a
 * stream is refused (REFUSED_STREAM) instead of costing memory.
 */
export const MAX_CONCURRENT_STREAMS = 128;

/** Largest header block accepted (SETTINGS_MAX_HEADER_LIST_SIZE), as HTTP/1.1's head limit. */
const MAX_HEADER_LIST_SIZE = 16 * 1024;

/** The TLS server `listen({ tls })` makes, with this server's deadlines and limits. */
export function createSecureListener(options: ResolvedListenOptions, server: ResolvedServerOptions): Http2SecureServer | HttpsServer {
  const tls = options.tls!;
  if (!options.http2) {
    return https.createServer({
      ...tls,
      handshakeTimeout: server.handshakeTimeout,
      headersTimeout: server.handshakeTimeout,
      requestTimeout: Math.max(server.handshakeTimeout, 300_000),
      connectionsCheckingInterval: Math.min(server.handshakeTimeout, 1000),
    });
  }
  return http2.createSecureServer({
    ...tls,
    allowHTTP1: true,
    // The TLS handshake counts against the same deadline as the request head.
    handshakeTimeout: server.handshakeTimeout,
    // A connection that negotiates neither protocol is dropped (the default 10 s, bound here).
    unknownProtocolTimeout: server.handshakeTimeout,
    settings: {
      enableConnectProtocol: server.webSocketOverHttp2,
      maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      maxHeaderListSize: MAX_HEADER_LIST_SIZE,
    },
  });
}

/** An HTTP/2 server of `node:http2`, TLS or not (it alone has `updateSettings`). */
export function isHttp2Server(server: object): server is Http2SecureServer | Http2Server {
  return typeof (server as { updateSettings?: unknown }).updateSettings === 'function';
}
