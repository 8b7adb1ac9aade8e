import { UsageError, integer, parseArgs, port } from './args.js';
import { ECHO_USAGE } from './usage.js';

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
  return { help: false, port: listenPort, host: values.host, maxPayload, deflate: values.deflate === true, drainWindow, redis, advertise };
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
