import type { BenchResult, TransportResult } from './bench.js';
import { LOOK, NEUTRAL_COLOUR } from './palette.js';

/**
 * The bench's outputs: a table for the terminal, and a Markdown report with SVG charts
 * (plain SVG, no script: it renders on a code host, in a browser, in an editor).
 */

// ---- Numbers for people ----------------------------------------------------------------------

export function formatNumber(value: number, digits = 3): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  // `digits` significant figures below 100.
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return value.toFixed(Math.min(decimals, 4));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${formatNumber(bytes)} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024)} KiB`;
  if (bytes < 1024 ** 3) return `${formatNumber(bytes / 1024 ** 2)} MiB`;
  return `${formatNumber(bytes / 1024 ** 3)} GiB`;
}

function percent(part: number, whole: number): string {
  if (whole === 0) return '–';
  const p = (part / whole) * 100;
  return `${p >= 99.95 && part !== whole ? '99.9' : formatNumber(p, 3)} %`;
}

interface Column {
  head: string;
  unit: string;
  value(r: TransportResult): string;
}

const COLUMNS: Column[] = [
  { head: 'transport', unit: '', value: (r) => LOOK[r.transport].label },
  { head: 'delivered', unit: 'of expected', value: (r) => `${r.delivered.toLocaleString('en-US')} (${percent(r.delivered, r.expected)})` },
  { head: 'requests', unit: 'per message', value: (r) => formatNumber(r.perMessage.requests) },
  { head: 'empty responses', unit: 'of requests', value: (r) => `${r.emptyResponses.toLocaleString('en-US')} (${percent(r.emptyResponses, r.requests)})` },
  { head: 'wire bytes', unit: 'per message', value: (r) => formatNumber(r.perMessage.bytes) },
  { head: 'overhead', unit: 'bytes/message', value: (r) => formatNumber(r.perMessage.overheadBytes) },
  { head: 'latency p50', unit: 'ms', value: (r) => formatNumber(r.latencyMs.p50) },
  { head: 'latency p99', unit: 'ms', value: (r) => formatNumber(r.latencyMs.p99) },
  { head: 'server CPU', unit: 'ms/1,000 msgs', value: (r) => formatNumber(r.perMessage.serverCpuMsPer1000) },
  { head: 'set-up p50', unit: 'ms', value: (r) => formatNumber(r.setupMs.p50) },
];

const orDash = (value: number | null | undefined) => (value === null || value === undefined ? '–' : formatNumber(value));

/** What HTTP/2 changes (`--http2`): the frames of the clients' connections, and their TLS bytes. */
const HTTP2_COLUMNS: Column[] = [
  { head: 'transport', unit: '', value: (r) => LOOK[r.transport].label },
  { head: 'header bytes', unit: 'per request, HPACK', value: (r) => orDash(r.http2?.headerBytesPerRequest) },
  { head: 'request headers', unit: 'bytes/request', value: (r) => orDash(r.http2?.requestHeaderBytesPerRequest) },
  { head: 'response headers', unit: 'bytes/request', value: (r) => orDash(r.http2?.responseHeaderBytesPerRequest) },
  { head: 'frames', unit: 'per message', value: (r) => orDash(r.http2?.framesPerMessage) },
  { head: 'framing', unit: 'bytes/message', value: (r) => orDash(r.http2?.framingBytesPerMessage) },
  { head: 'TLS bytes', unit: 'per message', value: (r) => orDash(r.http2?.tlsBytesPerMessage) },
  { head: 'connections', unit: 'TLS, in all', value: (r) => orDash(r.http2?.connections) },
];

function textTable(columns: Column[], results: readonly TransportResult[]): string {
  const rows = [columns.map((c) => c.head), columns.map((c) => c.unit), ...results.map((r) => columns.map((c) => c.value(r)))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const out = [line(rows[0]!), line(rows[1]!), widths.map((w) => '─'.repeat(w)).join('  ')];
  for (const row of rows.slice(2)) out.push(line(row));
  return out.join('\n') + '\n';
}

/** The table printed at the end of a run (and HTTP/2's, with `--http2`). */
export function formatTable(result: BenchResult): string {
  const table = textTable(COLUMNS, result.results);
  if (!result.options.http2) return table;
  return `${table}\nHTTP/2 (bytes above: cleartext frames; TLS bytes: encrypted, at the clients' sockets)\n${textTable(HTTP2_COLUMNS, result.results)}`;
}

export function markdownTable(result: BenchResult, columns: Column[] = COLUMNS): string {
  const head = `| ${columns.map((c) => (c.unit === '' ? c.head : `${c.head}<br>(${c.unit})`)).join(' | ')} |`;
  const align = `|${columns.map((_, i) => (i === 0 ? ' :-- ' : ' --: ')).join('|')}|`;
  const body = result.results.map((r) => `| ${columns.map((c) => c.value(r)).join(' | ')} |`);
  return [head, align, ...body].join('\n') + '\n';
}

// ---- SVG charts ----------------------------------------------------------------------------------

export interface BarRow {
  label: string;
  colour: string;
  /** One bar, or two (e.g. p50 and p99): the second is drawn lighter. */
  values: number[];
}

export interface BarChart {
  title: string;
  /** Axis caption, with the unit. */
  axis: string;
  rows: BarRow[];
  /** Names of the bars within a row, for the legend (when there are several). */
  series?: string[];
  /** Force a log scale (default: when the values span more than 50×). */
  log?: boolean;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A horizontal bar chart, one row per transport. */
export function svgBarChart(chart: BarChart): string {
  const width = 720;
  const left = 190;
  const right = 90;
  const top = chart.series && chart.series.length > 1 ? 64 : 44;
  const barHeight = 16;
  const rowGap = 12;
  const perRow = chart.rows[0]?.values.length ?? 1;
  const rowHeight = perRow * barHeight + (perRow - 1) * 2 + rowGap;
  const plotHeight = chart.rows.length * rowHeight;
  const height = top + plotHeight + 44;
  const plotWidth = width - left - right;
  const all = chart.rows.flatMap((r) => r.values).filter((v) => v > 0);
  const max = Math.max(...all, 1e-9);
  const minPositive = Math.min(...all, max);
  const log = chart.log ?? max / minPositive > 50;

  let scale: (v: number) => number;
  let ticks: number[];
  if (log) {
    const lo = Math.pow(10, Math.floor(Math.log10(minPositive)));
    const hi = Math.pow(10, Math.ceil(Math.log10(max)));
    scale = (v) => (v <= 0 ? 0 : (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plotWidth);
    ticks = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    const step = niceStep(max / 5);
    const hi = Math.ceil(max / step) * step;
    scale = (v) => (v / hi) * plotWidth;
    ticks = [];
    for (let t = 0; t <= hi + step / 1000; t += step) ticks.push(t);
  }

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="600" fill="#111">${escapeXml(chart.title)}</text>`,
  );
  if (chart.series && chart.series.length > 1) {
    let x = left;
    chart.series.forEach((name, i) => {
      parts.push(`<rect x="${x}" y="38" width="14" height="12" fill="${NEUTRAL_COLOUR}" fill-opacity="${i === 0 ? 1 : 0.4}"/>`);
      parts.push(`<text x="${x + 20}" y="48.5" fill="#333">${escapeXml(name)}</text>`);
      x += 30 + name.length * 8;
    });
  }
  for (const t of ticks) {
    const x = left + scale(t);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${top + plotHeight}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${top + plotHeight + 16}" text-anchor="middle" fill="#555" font-size="11">${escapeXml(formatTick(t))}</text>`);
  }
  parts.push(`<text x="${left + plotWidth / 2}" y="${top + plotHeight + 36}" text-anchor="middle" fill="#333">${escapeXml(chart.axis)}${log ? ' (log scale)' : ''}</text>`);
  chart.rows.forEach((row, i) => {
    const y0 = top + i * rowHeight;
    parts.push(`<text x="${left - 10}" y="${y0 + (perRow * barHeight) / 2 + 4 + (perRow - 1)}" text-anchor="end" fill="#111">${escapeXml(row.label)}</text>`);
    row.values.forEach((v, j) => {
      const y = y0 + j * (barHeight + 2);
      const w = Math.max(v > 0 ? 1 : 0, scale(v));
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${row.colour}" fill-opacity="${j === 0 ? 1 : 0.45}"/>`);
      parts.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + barHeight - 4}" fill="#222" font-size="12">${escapeXml(formatNumber(v))}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Axis ticks: as short as they can be (1, 10, 0.5, 1,000). */
function formatTick(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(3)));
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / p;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
}

export interface ReportChart {
  file: string;
  alt: string;
  svg: string;
}

export function reportCharts(result: BenchResult): ReportChart[] {
  const rows = (pick: (r: TransportResult) => number[]) =>
    result.results.map((r) => ({ label: LOOK[r.transport].label, colour: LOOK[r.transport].colour, values: pick(r) }));
  return [
    {
      file: 'requests-per-message.svg',
      alt: 'HTTP requests per delivered message',
      svg: svgBarChart({ title: 'HTTP requests per delivered message', axis: 'requests / message', rows: rows((r) => [r.perMessage.requests]) }),
    },
    {
      file: 'bytes-per-message.svg',
      alt: 'Wire bytes per delivered message',
      svg: svgBarChart({
        title: `Wire bytes per delivered message (payload: ${result.options.size} B)`,
        axis: 'bytes / message, both directions, headers included',
        rows: rows((r) => [r.perMessage.bytes]),
      }),
    },
    {
      file: 'latency.svg',
      alt: 'Push latency p50 and p99',
      svg: svgBarChart({
        title: 'Push latency, server send → client receipt',
        axis: 'milliseconds',
        series: ['p50', 'p99'],
        rows: rows((r) => [r.latencyMs.p50, r.latencyMs.p99]),
      }),
    },
    {
      file: 'cpu-per-1000.svg',
      alt: 'Server CPU time per 1,000 delivered messages',
      svg: svgBarChart({ title: 'Server CPU time per 1,000 delivered messages', axis: 'CPU milliseconds / 1,000 messages', rows: rows((r) => [r.perMessage.serverCpuMsPer1000]) }),
    },
  ];
}

/** The classic arithmetic next to the measurement (see docs/lab.md). */
export const CLASSIC = {
  /** Header bytes of one polling request and response in the classic example. */
  bytesPerPoll: 871,
  /** Bytes of a WebSocket frame header for a short server message. */
  bytesPerFrame: 2,
};

export function markdownReport(result: BenchResult, charts: ReportChart[]): string {
  const o = result.options;
  const m = result.machine;
  const lines: string[] = [];
  lines.push(`# Hotline transports bench`, '');
  lines.push(
    `${o.clients.toLocaleString('en-US')} simulated clients per transport, one transport at a time, each against a fresh server process; ` +
      `the server pushes ${o.rate} message${o.rate === 1 ? '' : 's'}/s of ${o.size} bytes to every client; ` +
      `${o.duration} s measured in steady state; polls every ${o.interval} ms (short and interval polling). ` +
      (o.clientHeaders === 'minimal'
        ? 'Clients send only the headers Node adds (Host, Connection).'
        : 'Clients send the request headers of a desktop Chromium (user agent, client hints, fetch metadata, referer), no cookies.'),
    '',
  );
  lines.push('```', result.command || 'hotline bench transports', '```', '');
  lines.push(`Machine: ${m.cpu}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}. Started ${result.startedAt}.`, '');
  lines.push(markdownTable(result));
  if (o.http2) {
    lines.push(
      '### What HTTP/2 changes\n\n' +
        'Every client on one h2 connection over TLS; bytes above are its cleartext frames (h2-frames.ts), ' +
        'the TLS bytes the encrypted ones at its TCP socket. *Header bytes*: HEADERS and CONTINUATION payloads ' +
        '(HPACK-coded fields) per request, request and response together. *Frames*: every frame of its streams, ' +
        'both directions, per delivered message; *framing*: their 9-byte headers and padding.\n',
    );
    lines.push(markdownTable(result, HTTP2_COLUMNS));
  }
  lines.push(
    '*Requests*: HTTP requests the server received (for WebSocket, its one upgrade request per connection). ' +
      '*Empty responses*: answers to a poll that carried no message. ' +
      '*Wire bytes*: bytes read and written at the server\'s sockets, both directions, HTTP headers and frame headers included (TCP/IP headers not). ' +
      '*Overhead*: wire bytes minus the payload. ' +
      '*Latency*: from the server taking the time stamp just before the send to the client parsing the message. ' +
      '*Server CPU*: user + system time of the server process, which serves this transport alone. ' +
      '*Set-up*: from starting to connect to the first answer (WebSocket: the 101; HTTP: the session handshake).',
    '',
  );
  for (const chart of charts) lines.push(`![${chart.alt}](${chart.file})`, '');
  lines.push('## Against the classic arithmetic', '');
  const polling = result.results.find((r) => r.transport === 'polling');
  const ws = result.results.find((r) => r.transport === 'websocket');
  lines.push(
    `The usual figures: ${CLASSIC.bytesPerPoll} bytes of HTTP headers per poll, ${CLASSIC.bytesPerFrame} bytes per WebSocket frame.`,
    '',
  );
  if (polling !== undefined) {
    lines.push(`- Measured here, one poll (request and response, headers and body) is **${formatNumber(polling.bytesPerRequest)} bytes** on the wire.`);
  }
  if (ws !== undefined && ws.delivered > 0) {
    lines.push(`- A WebSocket message costs **${formatNumber(ws.perMessage.overheadBytes)} bytes** beyond its payload, all included.`);
  }
  lines.push('');
  for (const r of result.results) {
    const notes: string[] = [];
    if (r.failed > 0) notes.push(`${r.failed} of ${r.clients} clients failed to connect`);
    if (r.lost > 0) notes.push(`${r.lost.toLocaleString('en-US')} messages not delivered in the drain time`);
    if (r.duplicates > 0) notes.push(`${r.duplicates} duplicates dropped by clients`);
    if (r.clientCpuPercent > 85) notes.push(`the clients' process was at ${r.clientCpuPercent} % CPU: latencies include its queueing`);
    if (r.errors.length > 0) notes.push(`errors: ${r.errors.slice(0, 3).join('; ')}`);
    if (notes.length > 0) lines.push(`- ${LOOK[r.transport].label}: ${notes.join('; ')}.`);
  }
  lines.push('', '## Raw figures', '', '```json', JSON.stringify(result.results, null, 1), '```', '');
  return lines.join('\n');
}
