import { INTERVAL_LIMITS, createLab } from '../lab-server.js';
import { STREAM_LIMITS } from '../stream-message.js';
import { UsageError, integer, parseArgs } from './args.js';

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
`;

/** `hotline serve`: the lab, on one port (default 8080). */
export async function serveCommand(argv: string[], untilSignal: () => Promise<void>): Promise<number> {
  const { values, positionals } = parseArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    rate: { type: 'string' },
    size: { type: 'string' },
    interval: { type: 'string' },
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
  // A demo that anyone on the network could steer is opt-in.
  const host = values.host ?? '127.0.0.1';

  const lab = await createLab({ rate, size, interval });
  const address = await lab.listen(port, host);
  const everywhere = host === '::' || host === '0.0.0.0';
  const shown = everywhere ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const reach = everywhere
    ? `  Listening on every interface (${host}): anyone who can reach this machine can open the lab\n` +
      `  and change its shared stream, controls and counters.\n`
    : host === '127.0.0.1' || host === '::1' || host === 'localhost'
      ? `  Listening on ${host} only (this machine); --host 0.0.0.0 to share it on the network.\n`
      : `  Listening on ${host}.\n`;
  process.stdout.write(
    `Hotline lab: http://${shown}:${address.port}/\n` +
      reach +
      `  WebSocket, SSE, long polling, short polling and interval polling, measured live.\n` +
      `  Numbers as JSON: http://${shown}:${address.port}/stats — Ctrl-C to stop.\n`,
  );
  await untilSignal();
  await lab.close();
  return 0;
}
