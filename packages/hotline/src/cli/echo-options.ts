import { UsageError, integer, parseArgs, port } from './args.js';
import { ECHO_USAGE } from './usage.js';

/** TLS for `hotline echo`: a key and certificate from files, or a pair made at start. */
export type EchoTls =
  | { readonly selfSigned: false; readonly keyFile: string; readonly certFile: string }
  | { readonly selfSigned: true };

export type EchoCommand =
  | { readonly help: true }
  | {
      readonly help: false;
      readonly port: number;
      readonly host: string | undefined;
      readonly maxPayload: number;
      readonly deflate: boolean;
      readonly drainWindow: number;
      /** The Redis that the nodes of one service share (`redis://` or `rediss://`), or undefined for one process. */
      readonly redis: string | undefined;
      /** How the other nodes reach this one (an http(s) origin); undefined: `http://127.0.0.1:<port>`. */
      readonly advertise: string | undefined;
      /** wss:// and https:// instead of ws:// and http://, or undefined for plain TCP. */
      readonly tls: EchoTls | undefined;
      /** With TLS: offer HTTP/2 by ALPN beside HTTP/1.1 (false: `--no-http2`, HTTPS over HTTP/1.1 only). */
      readonly http2: boolean;
    };

/** 16 MiB, the server's own default (protocol/limits.ts gives the reason). */
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

/** On SIGTERM the server drains over this many ms (the library's own default). */
const DEFAULT_DRAIN_WINDOW = 10_000;
/** A timer's longest delay. */
const MAX_DRAIN_WINDOW = 2 ** 31 - 1;

/** `hotline echo` flags, checked: every mistake is a UsageError with the echo usage. */
export function parseEcho(argv: string[]): EchoCommand {
  const { values, positionals } = parseArgs(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'max-payload': { type: 'string' },
      deflate: { type: 'boolean' },
      'drain-window': { type: 'string' },
      redis: { type: 'string' },
      advertise: { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      'self-signed': { type: 'boolean' },
      'no-http2': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    ECHO_USAGE,
  );
  if (values.help) return { help: true };
  if (positionals.length > 0) throw new UsageError(`echo takes no arguments, got ${JSON.stringify(positionals[0])}`, ECHO_USAGE);
  if (values.port === undefined) throw new UsageError('echo needs --port N', ECHO_USAGE);
  const listenPort = port(values.port, ECHO_USAGE);
  const maxPayload = integer(values['max-payload'], 'max-payload', DEFAULT_MAX_PAYLOAD, ECHO_USAGE);
  if (maxPayload === 0) throw new UsageError('--max-payload must be 1 or more', ECHO_USAGE);
  const drainWindow = integer(values['drain-window'], 'drain-window', DEFAULT_DRAIN_WINDOW, ECHO_USAGE);
  if (drainWindow > MAX_DRAIN_WINDOW) throw new UsageError(`--drain-window must be at most ${MAX_DRAIN_WINDOW} ms`, ECHO_USAGE);
  const redis = values.redis;
  if (redis !== undefined) checkRedisUrl(redis);
  const advertise = values.advertise;
  if (advertise !== undefined) {
    if (redis === undefined) throw new UsageError('--advertise applies with --redis (it tells the other nodes how to reach this one)', ECHO_USAGE);
    checkOrigin(advertise);
  }
  const tls = tlsOf(values['tls-key'], values['tls-cert'], values['self-signed'] === true);
  const http2 = values['no-http2'] !== true;
  if (!http2 && tls === undefined) throw new UsageError('--no-http2 applies with TLS (--tls-key and --tls-cert, or --self-signed): without TLS, echo speaks HTTP/1.1 only', ECHO_USAGE);
  return { help: false, port: listenPort, host: values.host, maxPayload, deflate: values.deflate === true, drainWindow, redis, advertise, tls, http2 };
}

/** The key and the certificate come as a pair, or are made at start; never both. */
function tlsOf(keyFile: string | undefined, certFile: string | undefined, selfSigned: boolean): EchoTls | undefined {
  if (selfSigned) {
    if (keyFile !== undefined || certFile !== undefined) throw new UsageError('--self-signed makes its own key and certificate: give it without --tls-key and --tls-cert', ECHO_USAGE);
    return { selfSigned: true };
  }
  if (keyFile === undefined && certFile === undefined) return undefined;
  if (keyFile === undefined) throw new UsageError('--tls-cert needs --tls-key FILE (the private key of the certificate)', ECHO_USAGE);
  if (certFile === undefined) throw new UsageError('--tls-key needs --tls-cert FILE (the certificate of the key)', ECHO_USAGE);
  if (keyFile === '' || certFile === '') throw new UsageError('--tls-key and --tls-cert need a file name', ECHO_USAGE);
  return { selfSigned: false, keyFile, certFile };
}

function checkRedisUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL, not ${JSON.stringify(value)}`, ECHO_USAGE);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--redis must be a redis:// or rediss:// URL, not ${JSON.stringify(value)}`, ECHO_USAGE);
}

/** The server's own `advertise` rule: an http(s) origin, with no path, query or fragment. */
function checkOrigin(value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const bare = url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  if (!bare) throw new UsageError(`--advertise must be an origin such as http://10.0.0.5:9001 (no path), not ${JSON.stringify(value)}`, ECHO_USAGE);
}
