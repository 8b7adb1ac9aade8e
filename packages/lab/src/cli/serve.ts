import type { PubSubEngine, PublishedMessage } from 'hotline';
import { INTERVAL_LIMITS, createLab } from '../lab-server.js';
import { STREAM_LIMITS } from '../stream-message.js';
import { NODE_LIMITS } from '../cluster/cluster-protocol.js';
import { UsageError, integer, parseArgs } from './args.js';
import { RedisUnusable, unusable, withRedisPackage } from './redis-reach.js';
import { selfSignedCertificate } from './self-signed.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export const SERVE_USAGE = `Usage: hotline serve [options]

The lab: one port serves the page, the browser client and every transport; the server
pushes one event stream over WebSocket, SSE, long polling, short polling and interval
polling at once, and measures each. The numbers are also at GET /stats.

Options:
  --port N         port (default 8080)
  --host H         interface (default 127.0.0.1: this machine only; 0.0.0.0 or ::
                   to let other machines open the lab: they all share one stream,
                   its controls and its counters)
  --rate R         events per second at start, 0.1-200 (default 2; the page can change it)
  --size BYTES     bytes per event at start, 48-16384 (default 128)
  --interval MS    poll interval told to polling clients, 100-10000 (default 1000)
  --http2          over TLS (a self-signed certificate made at start, for localhost
                   and 127.0.0.1): HTTP/2 and HTTP/1.1 on one port (ALPN), WebSocket
                   over HTTP/2 (RFC 8441); the page shows what HTTP/2 changes
  --tls-key FILE   with --tls-cert FILE: --http2 with this certificate (PEM) instead
  --tls-cert FILE  of a self-signed one
  --redis URL      the lab's topics go through this Redis 7 (redis://host:port,
                   rediss:// for TLS) instead of the process's memory
  --nodes N        with --redis: the lab as N node processes, 2-8, behind a
                   round-robin balancer on --port (no affinity); the page shows per
                   node what it delivered, and kills a node to show its clients
                   move to the others and recover what they missed
`;


/** `hotline serve`: the lab, on one port (default 8080). */
export async function serveCommand(argv: string[], untilSignal: () => Promise<void>): Promise<number> {
  const { values, positionals } = parseArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    rate: { type: 'string' },
    size: { type: 'string' },
    interval: { type: 'string' },
    redis: { type: 'string' },
    nodes: { type: 'string' },
    http2: { type: 'boolean' },
    'tls-key': { type: 'string' },
    'tls-cert': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const port = integer(values.port, 'port', 8080);
  const rate = values.rate === undefined ? 2 : Number(values.rate);
  if (!(rate >= STREAM_LIMITS.minRate && rate <= STREAM_LIMITS.maxRate)) {
    throw new UsageError(`--rate must be between ${STREAM_LIMITS.minRate} and ${STREAM_LIMITS.maxRate}`);
  }
  const size = integer(values.size, 'size', 128);
  if (size < STREAM_LIMITS.minSize || size > STREAM_LIMITS.maxSize) {
    throw new UsageError(`--size must be between ${STREAM_LIMITS.minSize} and ${STREAM_LIMITS.maxSize}`);
  }
  const interval = integer(values.interval, 'interval', 1000);
  if (interval < INTERVAL_LIMITS.min || interval > INTERVAL_LIMITS.max) throw new UsageError('--interval must be between 100 and 10,000 ms');
  const redis = values.redis === undefined ? undefined : redisUrl(values.redis);
  const nodes = values.nodes === undefined ? undefined : integer(values.nodes, 'nodes', 0);
  if (nodes !== undefined) {
    if (redis === undefined) throw new UsageError('--nodes needs --redis URL: the nodes share their topics, history and sessions through Redis');
    if (nodes < NODE_LIMITS.min || nodes > NODE_LIMITS.max) throw new UsageError(`--nodes must be between ${NODE_LIMITS.min} and ${NODE_LIMITS.max}`);
  }
  // A demo that anyone on the network could steer is opt-in.
  const host = values.host ?? '127.0.0.1';

  const given = givenCertificate(values['tls-key'], values['tls-cert']);
  const http2 = values.http2 === true || given !== undefined;
  if (http2 && nodes !== undefined) throw new UsageError('--http2 serves one node: it does not go with --nodes');
  if (nodes !== undefined) return serveCluster({ redisUrl: redis!, nodes, rate, port, host }, untilSignal);
  const engine = redis === undefined ? undefined : await connectRedis(redis);
  if (engine === null) return 1;
  const tls = given ?? (http2 ? await selfSignedCertificate() : undefined);
  const lab = await createLab({ rate, size, interval, ...(engine !== undefined ? { engine } : {}), ...(tls !== undefined ? { tls } : {}) });
  const address = await listenOrClose(lab, port, host);
  const { shown, reach } = where(host);
  const scheme = tls !== undefined ? 'https' : 'http';
  process.stdout.write(
    `Hotline lab: ${scheme}://${shown}:${address.port}/\n` +
      reach +
      (tls !== undefined
        ? given !== undefined
          ? `  HTTP/2 over TLS (HTTP/1.1 too, by ALPN), with the certificate ${values['tls-cert']}.\n`
          : `  HTTP/2 over TLS (HTTP/1.1 too, by ALPN). The certificate is self-signed, made at start for\n` +
            `  localhost and 127.0.0.1: the browser warns once (or run it with --ignore-certificate-errors).\n`
        : '') +
      (redis !== undefined ? `  Topics through Redis at ${redis}.\n` : '') +
      `  WebSocket, SSE, long polling, short polling and interval polling, measured live.\n` +
      `  Numbers as JSON: ${scheme}://${shown}:${address.port}/stats — Ctrl-C to stop.\n`,
  );
  await untilSignal();
  await lab.close();
  return 0;
}

/** `--tls-key` and `--tls-cert`, read and checked as a pair (PEM, the key matching the certificate). */
function givenCertificate(keyFile: string | undefined, certFile: string | undefined): { key: Buffer; cert: Buffer } | undefined {
  if (keyFile === undefined && certFile === undefined) return undefined;
  if (keyFile === undefined || certFile === undefined) throw new UsageError('--tls-key and --tls-cert go together: the private key and its certificate, both PEM');
  const key = readPem(keyFile, '--tls-key');
  const cert = readPem(certFile, '--tls-cert');
  try {
    createSecureContext({ key, cert });
  } catch (error) {
    throw new UsageError(`--tls-key ${keyFile} and --tls-cert ${certFile} are not a key and its certificate (${(error as Error).message})`);
  }
  return { key, cert };
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** `--redis URL`, checked: a redis:// or rediss:// URL with a host. */
function redisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--redis must be a URL such as redis://127.0.0.1:6379, not ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL with a host, such as redis://127.0.0.1:6379, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** A connected engine, or null once the reason it is not was said on one line (exit code 1). */
async function connectRedis(url: string): Promise<PubSubEngine<PublishedMessage> | null> {
  try {
    // Loaded only with --redis: the `redis` package is the library's optional peer dependency.
    const { RedisEngine } = await withRedisPackage(() => import('hotline/redis'));
    const engine = new RedisEngine<PublishedMessage>({ url });
    try {
      await engine.connect();
    } catch (error) {
      // It would keep trying in the background; the command stops instead.
      await engine.close().catch(() => undefined);
      throw unusable(url, error);
    }
    return engine;
  } catch (error) {
    if (!(error instanceof RedisUnusable)) throw error;
    process.stderr.write(`hotline serve: ${error.message}\n`);
    return null;
  }
}

async function serveCluster(
  options: { redisUrl: string; nodes: number; rate: number; port: number; host: string },
  untilSignal: () => Promise<void>,
): Promise<number> {
  let lab: Awaited<ReturnType<(typeof import('../cluster/cluster-lab.js'))['createClusterLab']>>;
  try {
    const { createClusterLab } = await withRedisPackage(() => import('../cluster/cluster-lab.js'));
    lab = await createClusterLab({ redisUrl: options.redisUrl, nodes: options.nodes, rate: options.rate });
  } catch (error) {
    if (!(error instanceof RedisUnusable) && (error as { code?: string }).code !== 'HL_ERR_ENGINE_UNAVAILABLE') throw error;
    process.stderr.write(`hotline serve: ${(error instanceof RedisUnusable ? error : unusable(options.redisUrl, error)).message}\n`);
    return 1;
  }
  const address = await listenOrClose(lab, options.port, options.host);
  const { shown, reach } = where(options.host);
  process.stdout.write(
    `Hotline lab: http://${shown}:${address.port}/ — ${options.nodes} nodes on Redis at ${options.redisUrl}\n` +
      reach +
      `  Nodes on 127.0.0.1 ports ${lab.nodes.map((node) => node.port).join(', ')}, behind a round-robin balancer (no affinity).\n` +
      `  One publisher, ${options.rate} a second; kill a node from the page and watch its clients recover.\n` +
      `  Numbers as JSON: http://${shown}:${address.port}/cluster/stats — Ctrl-C to stop.\n`,
  );
  await untilSignal();
  await lab.close();
  return 0;
}

/** The host as a URL shows it, and the banner's line on who can reach the lab. */
function where(host: string): { shown: string; reach: string } {
  const everywhere = host === '::' || host === '0.0.0.0';
  const shown = everywhere ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const reach = everywhere
    ? `  Listening on every interface (${host}): anyone who can reach this machine can open the lab\n` +
      `  and change its shared stream, controls and counters.\n`
    : host === '127.0.0.1' || host === '::1' || host === 'localhost'
      ? `  Listening on ${host} only (this machine); --host 0.0.0.0 to share it on the network.\n`
      : `  Listening on ${host}.\n`;
  return { shown, reach };
}

/** Listens; if it cannot (the port is taken), closes first, so that no Redis link or node keeps the process alive. */
async function listenOrClose<A>(lab: { listen(port: number, host?: string): Promise<A>; close(): Promise<void> }, port: number, host: string): Promise<A> {
  try {
    return await lab.listen(port, host);
  } catch (error) {
    await lab.close().catch(() => undefined);
    throw error;
  }
}
