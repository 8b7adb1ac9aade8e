// The soak's table, verdict and summary: rows from the server's samples and the clients'
// tallies, the checks that decide whether the server held (memory flat, handles back to
// where they started, no client saw anything it should not), and the Markdown file.
import { totals } from './tally.mjs';

const MiB = 1024 * 1024;
const mb = (bytes) => (bytes / MiB).toFixed(1);
const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (n < 10 ? n.toFixed(1) : Math.round(n).toString());

/**
 * How much growth still counts as flat. Generous on purpose (the machine is shared, and
 * what slow readers hold by right moves); what they still catch, at full scale over the 8
 * minutes after warm-up: a leak of 1 KiB per churned connection (~30/s) is ~15 MiB of
 * heap, of 10 B per message sent (~10,000/s) ~45 MiB.
 */
export const FLAT = {
  // after a full GC: the last reading against the first (at the end of warm-up), and the
  // line fitted through all of them over the same span
  heapAfterGc: { share: 0.05, floor: 8 * MiB },
  externalAfterGc: { share: 0.1, floor: 16 * MiB },
  // RSS: the mean of the last third of the samples after warm-up against the first third
  rssMean: { share: 0.15, floor: 64 * MiB },
};

/** Above these the machine was busy with other work (the verdict says so, as a warning). */
const QUIET = { otherLoad: 0.25 };

const finite = (xs) => xs.filter((x) => Number.isFinite(x));
const mean = (xs) => (finite(xs).length === 0 ? NaN : finite(xs).reduce((a, b) => a + b, 0) / finite(xs).length);
const signed = (bytes) => `${bytes >= 0 ? '+' : ''}${mb(bytes)}`;
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : 'n/a');

/** Fewer samples than this in the second half of the run fit no trustworthy line. */
const MIN_SLOPE_SAMPLES = 6;
const MIN_GC_READINGS = 4;

export const COLUMNS = [
  ['t s', 6],
  ['rss MB', 8],
  ['heap MB', 13],
  ['ext MB', 7],
  ['ab MB', 7],
  ['handles', 8],
  ['fds', 6],
  ['ws', 6],
  ['sess', 5],
  ['eld p50/p99/max ms', 19],
  ['cpu', 5],
  ['in/s', 7],
  ['out/s', 7],
  ['out MB', 7],
  ['cli cpu', 7],
  ['cli eld', 7],
  ['other', 5],
  ['bad', 5],
];

const pad = (text, width) => String(text).padStart(width);
export const header = () => COLUMNS.map(([name, width]) => pad(name, width)).join(' ');

/** Bad things the clients saw so far: what must stay 0. */
export function badCount(t) {
  return t.unexpectedCloses + t.errorCount + t.connectFailed + t.echoBad + t.echoLate + t.gaps + t.disorder;
}

const handleTotal = (handles) => Object.values(handles).reduce((a, b) => a + b, 0);

/** One table row: the server's sample, the rates since the previous one, the clients' totals. */
export function row(sample, previous, clients, t0) {
  const clientTotals = clients ? totals(clients) : null;
  const dt = previous ? (sample.at - previous.at) / 1000 : 0;
  const rate = (f) => (previous && dt > 0 ? (f(sample.counts) - f(previous.counts)) / dt : 0);
  const inRate = rate((c) => c.received);
  const outRate = rate((c) => c.echo.sent + c.echo.buffered + c.deliveries);
  const m = sample.memory;
  const cells = [
    ((sample.at - t0) / 1000).toFixed(0),
    mb(m.rss),
    `${mb(m.heapUsed)}/${mb(m.heapTotal)}`,
    mb(m.external),
    mb(m.arrayBuffers),
    handleTotal(sample.handles),
    sample.fds,
    sample.connections,
    sample.sessions,
    `${ms(sample.eld.p50)}/${ms(sample.eld.p99)}/${ms(sample.eld.max)}`,
    `${Math.round(sample.cpu * 100)}%`,
    int(inRate),
    int(outRate),
    mb(sample.outbound.used),
    clients ? `${Math.round(clients.cpu * 100)}%` : '-',
    clients ? ms(clients.eldMax) : '-',
    Number.isFinite(sample.otherLoad) ? `${Math.round(sample.otherLoad * 100)}%` : '-',
    clientTotals ? badCount(clientTotals) : '-',
  ];
  return cells.map((cell, i) => pad(cell, COLUMNS[i][1])).join(' ');
}

/** Least-squares slope of `value(sample)` against time, in units per second. */
function slope(samples, value) {
  if (samples.length < 3) return NaN;
  const xs = samples.map((s) => s.at / 1000);
  const ys = samples.map(value);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function within(growth, base, { share, floor }) {
  const allowed = Math.max(share * base, floor);
  return { ok: growth <= allowed, growth, allowed };
}

/** A line of the verdict that is shown, never judged. */
const INFO = 'info';

/**
 * The verdict: a list of checks, each { name, ok, detail }, with `warn` for what does not
 * fail the run but should be read (and INFO for figures shown, never judged).
 */
export function verdict(run) {
  const checks = [];
  const add = (name, ok, detail, warn = false) => checks.push({ name, ok, warn, detail });
  const { steady, gc, duration } = run;

  if (run.crashed) add('processes', false, run.crashed);

  // Memory. Leaks are judged on the readings after a full GC (the heap, and the Buffers
  // and other memory outside it), which hold what is live and nothing else. RSS is judged
  // only for gross growth, on means over thirds of the run: between two collections the
  // heap of a server under this traffic swings by hundreds of MiB, and the allocator keeps
  // pages it freed, so RSS at any one moment says little. Slopes are shown, not judged.
  const series = run.gcSeries ?? [];
  if (series.length < MIN_GC_READINGS) {
    add('heap after GC, fitted', false, `not judged: ${series.length} readings, ${MIN_GC_READINGS} needed (a longer --duration: one per slow-reader cycle after warm-up)`, true);
  } else {
    const perSecond = slope(series, (s) => s.memory.heapUsed);
    const span = (series[series.length - 1].at - series[0].at) / 1000;
    const w = within(perSecond * span, series[0].memory.heapUsed, FLAT.heapAfterGc);
    add(
      'heap after GC, fitted',
      w.ok,
      `${(perSecond * 60 / MiB).toFixed(2)} MiB/min over ${series.length} readings: ${signed(w.growth)} MiB over ${span.toFixed(0)} s (flat below +${mb(w.allowed)}); readings ${series.map((s) => mb(s.memory.heapUsed)).join(', ')}`,
    );
  }
  if (gc.warm && gc.end) {
    for (const [name, key, limits] of [
      ['heap after GC', 'heapUsed', FLAT.heapAfterGc],
      ['external after GC', 'external', FLAT.externalAfterGc],
    ]) {
      const w = within(gc.end.memory[key] - gc.warm.memory[key], gc.warm.memory[key], limits);
      add(`${name}, last reading vs first`, w.ok, `${mb(gc.warm.memory[key])} → ${mb(gc.end.memory[key])} MiB (${signed(w.growth)}; flat below +${mb(w.allowed)})`);
    }
    add('RSS after GC, last reading vs first', true, `${mb(gc.warm.memory.rss)} → ${mb(gc.end.memory.rss)} MiB (what the allocator kept varies)`, INFO);
  } else {
    add('memory after GC', false, `not judged: ${series.length} reading(s) after a full GC, 2 needed (a longer --duration, or a shorter --warmup)`, true);
  }
  // A heap snapshot leaves RSS higher than it found it: such a run's RSS is shown, not judged.
  const afterWarmup = steady.filter((s) => s.at >= steady[0]?.at - run.options.every * 1000 + run.options.warmup * 1000);
  const third = Math.floor(afterWarmup.length / 3);
  if (third < 3) {
    add('RSS, last third vs first', false, `not judged: ${afterWarmup.length} samples after warm-up, 9 needed`, true);
  } else {
    const first = mean(afterWarmup.slice(0, third).map((s) => s.memory.rss));
    const last = mean(afterWarmup.slice(-third).map((s) => s.memory.rss));
    const w = within(last - first, first, FLAT.rssMean);
    add(
      'RSS, last third vs first',
      w.ok,
      `means of ${third} samples after warm-up: ${mb(first)} → ${mb(last)} MiB (${signed(w.growth)}; flat below +${mb(w.allowed)})`,
      Boolean(run.options.heapSnapshots),
    );
  }
  const half = steady.filter((s) => s.at >= steady[0]?.at + (duration * 1000) / 2);
  if (half.length >= MIN_SLOPE_SAMPLES) {
    const line = (key) => `${((slope(half, (s) => s.memory[key]) * 60) / MiB).toFixed(1)} MiB/min`;
    add('slopes over the second half (no GC)', true, `RSS ${line('rss')}, heap used ${line('heapUsed')}, external ${line('external')} (sawtooths)`, INFO);
  }

  // Handles and descriptors: after every client left, what was there before any came.
  if (gc.baseline && gc.after) {
    const before = gc.baseline.handles;
    const after = gc.after.handles;
    const types = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    const extra = types.filter((t) => (after[t] ?? 0) > (before[t] ?? 0));
    const list = (h) => types.map((t) => `${t} ${h[t] ?? 0}`).join(', ');
    add('handles back to baseline', extra.length === 0, `before: ${list(before)}; after: ${list(after)}${run.drainedIn == null ? '' : ` (${run.drainedIn.toFixed(0)} s after the clients left)`}`);
    add('descriptors back to baseline', gc.after.fds <= gc.baseline.fds, `${gc.baseline.fds} → ${gc.after.fds}`);
    add('no connection or session left', gc.after.connections === 0 && gc.after.sessions === 0, `${gc.after.connections} WebSocket, ${gc.after.sessions} sessions`);
    add('heap after the clients left', true, `${mb(gc.baseline.memory.heapUsed)} MiB before any client, ${mb(gc.after.memory.heapUsed)} MiB after they all left (RSS ${mb(gc.baseline.memory.rss)} → ${mb(gc.after.memory.rss)})`, INFO);
  } else {
    add('handles back to baseline', false, 'no reading after the clients left');
  }

  // The machine: other work on the CPUs delays every process of the soak, and with them
  // echoes and requests; the results that depend on time are only as good as this.
  const other = mean(steady.map((s) => s.otherLoad));
  const pressure = mean(steady.map((s) => s.cpuPressure));
  const clientDelay = Math.max(0, ...steady.map((s) => s.clientLoopDelay ?? 0));
  add(
    'machine quiet',
    // PSI counts the soak's own processes waiting for each other too: shown, not judged.
    !(other > QUIET.otherLoad),
    `other work used ${pct(other)} of a core on average; CPU pressure (PSI some, avg10) ${pct(pressure)} on average; longest client event-loop delay ${ms(clientDelay)} ms`,
    true,
  );

  const overflows = steady.reduce((a, s) => a + (s.listenOverflows || 0), 0);
  add(
    'accept queue',
    !(run.rampListenOverflows > 0) && overflows === 0,
    `connections dropped by a full accept queue (machine-wide, TcpExt ListenOverflows): ${run.rampListenOverflows ?? 'n/a'} during the ramp, ${overflows} after it; each waits for its SYN to be sent again (1 s, 3 s, 7 s…)`,
    true,
  );

  // Clients.
  const t = totals(run.clients);
  const opened = t.opened;
  add('every client opened', t.connectFailed === 0, `${int(opened)} opened, ${t.connectFailed} failed to open`);
  add('no unexpected close', t.unexpectedCloses === 0, describe(t.closedUnexpected) || 'none');
  add('no client error', t.errorCount === 0, describe(t.errors) || 'none');
  add('every echo came back, intact and in order', t.echoBad === 0 && t.echoLate === 0, `${int(t.echoOk)} echoes, ${t.echoBad} wrong, ${t.echoLate} late`);
  add('no publish lost, doubled or reordered', t.gaps === 0 && t.disorder === 0, `${t.gaps} gaps (${t.missed} publishes), ${t.disorder} out of order`);
  add(
    'requests retried',
    t.retries === 0 && t.transientCount === 0,
    `${t.retries} HTTP requests failed and were retried by the client${t.retries > 0 ? ` (failures by cause: ${describe(t.requestFailures) || 'none recorded'})` : ''}; ` +
      `${t.transientCount} of them reported as \`error\` events (${describe(t.transientErrors) || 'none'})`,
    true,
  );
  add('slow and stalled readers', true, slowSummary(run.clients), INFO);
  return checks;
}

function describe(map) {
  return Object.entries(map)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
}

function slowSummary(clients) {
  const parts = [];
  for (const [kind, c] of Object.entries(clients.kinds)) {
    if (!kind.endsWith('/slow') && !kind.endsWith('/stalled')) continue;
    const extra = kind.endsWith('/stalled') ? `, at the end ${c.droppedByServer} already dropped by the server, ${c.stillOpen} still open` : '';
    parts.push(`${kind}: ${int(c.opened)} opened, ${int(c.skipped)} publishes skipped while not reading, closes ${describe(c.closedExpected) || 'none'}${extra}`);
  }
  return parts.join('; ') || 'none';
}

export function passed(checks) {
  return checks.every((c) => c.ok || c.warn);
}

export function renderVerdict(checks) {
  return checks.map((c) => `${c.warn === INFO ? 'info' : c.ok ? 'ok  ' : c.warn ? 'warn' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n');
}

/** The per-kind client table, for the summary. */
function kindTable(clients) {
  const lines = [
    '| kind | opened | open at end | sent | received | echoes ok | late | unexpected closes | errors | retries | failed requests | gaps | expected closes |',
    '|---|--:|--:|--:|--:|--:|--:|---|---|--:|---|--:|---|',
  ];
  for (const [kind, c] of Object.entries(clients.kinds).sort()) {
    lines.push(
      `| ${kind} | ${int(c.opened)} | ${int(c.open)} | ${int(c.sent)} | ${int(c.received)} | ${int(c.echoOk)} | ${c.echoLate} | ${describe(c.closedUnexpected) || '0'} | ${describe(c.errors) || '0'}${Object.keys(c.transientErrors).length > 0 ? ` (transient: ${describe(c.transientErrors)})` : ''} | ${c.retries} | ${describe(c.requestFailures) || '0'} | ${c.gaps} | ${describe(c.closedExpected) || '0'} |`,
    );
  }
  return lines.join('\n');
}

export function renderMarkdown(run, checks, tableLines) {
  const last = run.steady[run.steady.length - 1];
  const counts = run.gc.after?.counts ?? last?.counts;
  const closes = counts
    ? Object.entries(counts.closed)
        .map(([transport, codes]) => `${transport}: ${describe(codes)}`)
        .join('; ')
    : '';
  return `# Soak ${run.startedAt}

${passed(checks) ? '**Held.**' : '**Did not hold.**'} \`${run.command}\`

- Machine: ${run.machine}
- Clients: ${int(run.options.ws)} WebSocket (${run.options.wsProcs} processes of raw clients, and ${run.plan.deflate} permessage-deflate clients among the library clients), ${int(run.options.http)} HTTP sessions (${run.options.httpProcs} processes of library clients), for ${run.duration} s after the ramp (${run.rampSeconds.toFixed(1)} s); warm-up ${run.options.warmup} s, a sample every ${run.options.every} s
- Plan: \`${JSON.stringify(run.plan)}\`
${run.interrupted ? '- Interrupted before the end.\n' : ''}
## Verdict

\`\`\`
${renderVerdict(checks)}
\`\`\`

## Server, every ${run.options.every} s

\`\`\`
${tableLines.join('\n')}
\`\`\`

rss, heap (used/total), ext (external), ab (arrayBuffers): \`process.memoryUsage()\`;
handles: \`process.getActiveResourcesInfo()\`; fds: /proc/self/fd; ws, sess: open WebSocket
peers and HTTP sessions; eld: event-loop delay over the interval; cpu: the server's CPU
(of one core); in/s: messages received, out/s: messages sent (echoes and deliveries);
out MB: bytes queued for peers (what maxOutboundBytes bounds); cli cpu: all the client
processes together, cli eld: the longest event-loop delay (ms) of any client process; other: CPU used by everything else on the machine (all in % of one
core, of ${run.machineCpus} here); bad: client anomalies so far (unexpected closes, errors, failed
opens, wrong or late echoes, gaps).

Server close codes by transport: ${closes || 'none'}. Server \`error\` hook: ${counts ? describe(counts.errors) || 'none' : '-'}.
Budget: ${last ? `${last.outbound.evictions} evictions, ${last.outbound.refusals} refusals` : '-'}. permessage-deflate negotiated by ${counts?.deflated ?? 0} peers.

## Clients

${kindTable(run.clients)}

${run.clients.notes.length > 0 ? `First anomalies:\n\n${run.clients.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}
