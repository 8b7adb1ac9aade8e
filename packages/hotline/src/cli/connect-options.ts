import { readFileSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import { UsageError, integer, parseArgs, seconds } from './args.js';
import { type ConnectOptions, parseHeaders } from './connect.js';
import { type TransportConnectOptions, parseTransports } from './connect-transport.js';
import { CONNECT_USAGE, DEFAULT_WAIT } from './usage.js';

export type ConnectCommand =
  | { readonly help: true }
  | { readonly help: false; readonly transport: false; readonly options: ConnectOptions }
  | { readonly help: false; readonly transport: true; readonly options: TransportConnectOptions };

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const SCHEMES = new Set(['ws:', 'wss:', 'http:', 'https:']);

/**
 * The URL as given, or with `ws://` (`http://` with `--transport`) in front when it has
 * no scheme, as wscat does: `localhost:9001`, `127.0.0.1:9001/chat`.
 */
export function normalizeUrl(given: string, transport: boolean): string {
  const text = SCHEME.test(given) ? given : `${transport ? 'http' : 'ws'}://${given}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(given)}`, CONNECT_USAGE);
  }
  if (!SCHEMES.has(url.protocol)) throw new UsageError(`the URL scheme must be ws, wss, http or https, not ${url.protocol.slice(0, -1)}`, CONNECT_USAGE);
  if (url.hash !== '') throw new UsageError('the URL must not have a #fragment', CONNECT_USAGE);
  return url.href;
}

/** `hotline connect` flags, checked: every mistake is a UsageError with the connect usage. */
export function parseConnect(argv: string[]): ConnectCommand {
  const { values, positionals, tokens } = parseArgs(
    argv,
    {
      execute: { type: 'string', short: 'x', multiple: true },
      wait: { type: 'string', short: 'w' },
      header: { type: 'string', short: 'H', multiple: true },
      protocol: { type: 'string', multiple: true },
      subprotocol: { type: 'string', short: 's', multiple: true },
      'show-ping-pong': { type: 'boolean', short: 'P' },
      transport: { type: 'string' },
      interval: { type: 'string' },
      deflate: { type: 'boolean' },
      ca: { type: 'string' },
      'no-check': { type: 'boolean' },
      insecure: { type: 'boolean', short: 'k' },
      http2: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    CONNECT_USAGE,
  );
  if (values.help) return { help: true };
  if (positionals.length === 0) throw new UsageError('connect needs a URL', CONNECT_USAGE);
  if (positionals.length > 1) throw new UsageError(`connect takes one URL, not ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`, CONNECT_USAGE);
  const transport = values.transport !== undefined;
  if (values.interval !== undefined && !transport) throw new UsageError('--interval applies with --transport (polling, interval-polling)', CONNECT_USAGE);
  const options: ConnectOptions = {
    url: normalizeUrl(positionals[0]!, transport),
    // In the order given, whichever spelling: the order is the client's preference (RFC 6455 §4.1).
    protocols: tokens.flatMap((token) => (token.kind === 'option' && (token.name === 'protocol' || token.name === 'subprotocol') ? [token.value!] : [])),
    headers: parseHeaders(values.header ?? [], CONNECT_USAGE),
    wait: seconds(values.wait, 'wait', DEFAULT_WAIT, CONNECT_USAGE),
    execute: values.execute ?? [],
    noColor: values['no-color'] === true,
    showPingPong: values['show-ping-pong'] === true,
    deflate: values.deflate === true,
    http2: values.http2 === true,
  };
  const tls = tlsOptions(values.ca, values['no-check'] === true || values.insecure === true);
  if (tls !== undefined) options.tls = tls;
  if (!transport) return { help: false, transport: false, options };
  if (options.protocols.length > 0) throw new UsageError('--subprotocol applies to WebSocket without --transport', CONNECT_USAGE);
  if (options.http2) throw new UsageError('--http2 applies to WebSocket without --transport (RFC 8441)', CONNECT_USAGE);
  const interval = values.interval === undefined ? undefined : integer(values.interval, 'interval', 0, CONNECT_USAGE);
  return {
    help: false,
    transport: true,
    options: { ...options, transports: parseTransports(values.transport!, CONNECT_USAGE), ...(interval !== undefined ? { interval } : {}) },
  };
}

function tlsOptions(ca: string | undefined, noCheck: boolean): AgentOptions | undefined {
  if (ca === undefined && !noCheck) return undefined;
  const tls: AgentOptions = {};
  if (ca !== undefined) {
    try {
      tls.ca = readFileSync(ca);
    } catch (error) {
      throw new UsageError(`--ca: cannot read ${JSON.stringify(ca)} (${(error as { code?: string }).code ?? (error as Error).message})`, CONNECT_USAGE);
    }
    if (!tls.ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca: ${JSON.stringify(ca)} holds no PEM certificate`, CONNECT_USAGE);
  }
  if (noCheck) tls.rejectUnauthorized = false;
  return tls;
}
