import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type BenchProgress, benchTransports } from '../bench.js';
import { LAB_TRANSPORTS, LOOK, type LabTransport } from '../palette.js';
import { formatTable, markdownReport, reportCharts } from '../report.js';
import { STREAM_LIMITS } from '../stream-message.js';
import { UsageError, integer, parseArgs } from './args.js';

export const BENCH_TRANSPORTS_USAGE = `Usage: hotline bench transports [options]

Simulated clients of each transport, one transport at a time against a fresh server
process, the same event stream for all. Prints a table and writes a Markdown report
with SVG charts.

Options:
  --clients N        clients per transport (default 100)
  --rate R           messages per second pushed to every client (default 1)
  --duration D       seconds measured, after a warm-up (default 10)
  --interval MS      ms between polls, short and interval polling (default 1000)
  --size BYTES       bytes per message (default 128)
  --warmup S         seconds between connecting and measuring (default 2, or two
                     poll intervals if longer)
  --transports LIST  comma-separated, in order (default: ${LAB_TRANSPORTS.join(',')})
  --client-headers browser|minimal
                     request headers of the clients: a desktop Chromium's (default)
                     or only what Node adds
  --http2            HTTP/2 over TLS (self-signed certificate): each client on one h2
                     connection, every poll a stream on it, WebSocket by RFC 8441;
                     adds header bytes after HPACK, frames per message, TLS bytes
  --out DIR          report directory (default bench-results/transports-<date>)
  --quiet            no progress bar
`;

function positiveNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, not ${JSON.stringify(value)}`);
  return n;
}

export async function benchTransportsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(argv, {
    clients: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    interval: { type: 'string' },
    size: { type: 'string' },
    warmup: { type: 'string' },
    'client-headers': { type: 'string' },
    transports: { type: 'string' },
    out: { type: 'string' },
    quiet: { type: 'boolean' },
    http2: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(BENCH_TRANSPORTS_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const clients = integer(values.clients, 'clients', 100);
  if (clients < 1 || clients > 10_000) throw new UsageError('--clients must be between 1 and 10,000');
  const rate = positiveNumber(values.rate, 'rate', 1);
  if (rate < STREAM_LIMITS.minRate || rate > STREAM_LIMITS.maxRate) {
    throw new UsageError(`--rate must be between ${STREAM_LIMITS.minRate} and ${STREAM_LIMITS.maxRate}`);
  }
  const duration = positiveNumber(values.duration, 'duration', 10);
  const interval = integer(values.interval, 'interval', 1000);
  if (interval < 10) throw new UsageError('--interval must be at least 10 ms');
  const size = integer(values.size, 'size', 128);
  if (size < STREAM_LIMITS.minSize || size > STREAM_LIMITS.maxSize) {
    throw new UsageError(`--size must be between ${STREAM_LIMITS.minSize} and ${STREAM_LIMITS.maxSize}`);
  }
  const warmup = values.warmup === undefined ? undefined : Number(values.warmup);
  if (warmup !== undefined && !(warmup >= 0 && warmup <= 600)) throw new UsageError('--warmup must be between 0 and 600 seconds');
  const clientHeaders = values['client-headers'] ?? 'browser';
  if (clientHeaders !== 'browser' && clientHeaders !== 'minimal') throw new UsageError('--client-headers is browser or minimal');
  const transports = (values.transports ?? LAB_TRANSPORTS.join(',')).split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of transports) {
    if (!LAB_TRANSPORTS.includes(t as LabTransport)) throw new UsageError(`unknown transport ${JSON.stringify(t)} (known: ${LAB_TRANSPORTS.join(', ')})`);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = path.resolve(values.out ?? path.join('bench-results', `transports-${stamp}`));

  const bar = values.quiet ? null : new ProgressBar(process.stderr);
  const command = ['hotline bench transports', ...argv].join(' ');
  const result = await benchTransports(
    {
      clients,
      rate,
      duration,
      interval,
      size,
      transports: transports as LabTransport[],
      ...(warmup !== undefined ? { warmup } : {}),
      clientHeaders,
      ...(values.http2 ? { http2: true } : {}),
      ...(bar !== null ? { onProgress: (p: BenchProgress) => bar.update(p) } : {}),
    },
    command,
  );
  bar?.finish();

  process.stdout.write('\n' + formatTable(result) + '\n');
  mkdirSync(out, { recursive: true });
  const charts = reportCharts(result);
  for (const chart of charts) writeFileSync(path.join(out, chart.file), chart.svg);
  writeFileSync(path.join(out, 'report.md'), markdownReport(result, charts));
  writeFileSync(path.join(out, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`Report: ${path.join(out, 'report.md')}\n`);
  const failures = result.results.filter((r) => r.connected === 0);
  return failures.length > 0 ? 1 : 0;
}

/** Phase weights within one transport's run, for a bar that moves evenly. */
const WEIGHTS: Record<BenchProgress['phase'], [number, number]> = {
  starting: [0, 0.02],
  connecting: [0.02, 0.2],
  'warming up': [0.2, 0.3],
  measuring: [0.3, 0.92],
  draining: [0.92, 1],
  done: [1, 1],
};

class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private lastPhase = '';
  private lastDraw = 0;

  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
  }

  update(p: BenchProgress): void {
    const [from, to] = WEIGHTS[p.phase];
    const overall = (p.index + from + (to - from) * p.fraction) / p.of;
    const label = `${LOOK[p.transport].label} (${p.index + 1}/${p.of})`;
    if (!this.stream.isTTY) {
      // No bar on a pipe: one line per phase.
      const key = `${p.transport}/${p.phase}`;
      if (key !== this.lastPhase) this.stream.write(`${label}: ${p.phase}\n`);
      this.lastPhase = key;
      return;
    }
    const now = Date.now();
    if (now - this.lastDraw < 100 && p.phase === this.lastPhase && p.fraction < 1) return;
    this.lastDraw = now;
    this.lastPhase = p.phase;
    const width = 30;
    const filled = Math.round(overall * width);
    const text = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.round(overall * 100)).padStart(3)} %  ${label}: ${p.phase}${p.detail ? ` (${p.detail})` : ''}`;
    this.stream.write(`\r\x1b[2K${text.slice(0, (this.stream.columns ?? 120) - 1)}`);
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
