/**
 * The lab page: one connection per transport to the measured stream, live panes, charts
 * and a table fed by the server's `/stats` (via the page's own reports), and a chat.
 */
import { type HotlineClient, connect } from 'hotline/client';
import type { StatsSnapshot, TransportSnapshot } from '../src/snapshot.js';
import { LAB_TRANSPORTS, LOOK, type LabTransport } from '../src/palette.js';
import { parseMessage } from '../src/stream-message.js';
import { LatencyChart, SeriesChart } from './charts.js';
import { ServerClock } from './clock.js';
import { startChat } from './chat.js';
import { fmtBytes, fmtCount, fmtMs, fmtNumber, fmtPercent } from './format.js';

const STREAM_PATH = '/lab/stream';
const REPORT_EVERY_MS = 1000;

interface Pending {
  delivered: number;
  latencies: number[];
  lost: number;
  duplicates: number;
  payloadBytes: number;
}

interface PaneState {
  transport: LabTransport;
  client: HotlineClient | null;
  /** Messages this page received, and the last sequence number (for gaps and repeats). */
  received: number;
  lastSeq: number;
  lastLatency: number | null;
  setupMs: number | null;
  pending: Pending;
  el: HTMLElement;
  fields: Record<string, HTMLElement>;
}

const clock = new ServerClock();
const panes = new Map<LabTransport, PaneState>();
let interval = 1000;
let latencyChart: LatencyChart;
let requestsChart: SeriesChart;
let bytesChart: SeriesChart;
let perMessageChart: SeriesChart;
let previous: StatsSnapshot | null = null;
/** The last few snapshots, for rates over a sliding window. */
const recent: StatsSnapshot[] = [];
/** Seconds the request and byte rates are averaged over. */
const RATE_WINDOW = 5;

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function freshPending(): Pending {
  return { delivered: 0, latencies: [], lost: 0, duplicates: 0, payloadBytes: 0 };
}

// ---- Panes -----------------------------------------------------------------------------------

function buildPane(transport: LabTransport): PaneState {
  const look = LOOK[transport];
  const el = document.createElement('article');
  el.className = 'pane';
  el.dataset.transport = transport;
  el.style.setProperty('--colour', look.colour);
  el.innerHTML = `
    <div class="pane-head"><h3><span class="swatch"></span>${look.label}</h3><span class="state" data-k="state">connecting</span></div>
    <p class="summary">${look.summary}</p>
    <div class="big">
      <div><span class="value" data-k="delivered">0</span><span class="label">messages delivered</span></div>
      <div><span class="value" data-k="p50">–</span><span class="label">latency p50</span></div>
    </div>
    <dl class="facts">
      <dt>latency p99</dt><dd data-k="p99">–</dd>
      <dt>HTTP requests</dt><dd data-k="requests">0</dd>
      <dt>… came back empty</dt><dd data-k="empty">0</dd>
      <dt>requests / message</dt><dd data-k="rpm">–</dd>
      <dt>bytes in (to server)</dt><dd data-k="bytesIn">–</dd>
      <dt>bytes out</dt><dd data-k="bytesOut">–</dd>
      <dt>wire bytes / message</dt><dd data-k="bpm">–</dd>
      <dt>CPU / 1,000 messages</dt><dd data-k="cpu">–</dd>
      <dt>connection set-up</dt><dd data-k="setup">–</dd>
    </dl>
    <div class="last"><span class="pulse" data-k="pulse"></span><span data-k="lastText">waiting for the first event…</span></div>`;
  const fields: Record<string, HTMLElement> = {};
  for (const node of Array.from(el.querySelectorAll<HTMLElement>('[data-k]'))) fields[node.dataset.k!] = node;
  return { transport, client: null, received: 0, lastSeq: 0, lastLatency: null, setupMs: null, pending: freshPending(), el, fields };
}

function setState(pane: PaneState, text: string, kind: 'open' | 'closed' | '') {
  pane.fields.state!.textContent = text;
  pane.fields.state!.className = `state ${kind}`;
}

function openPane(pane: PaneState): void {
  pane.client?.close();
  const started = performance.now();
  setState(pane, 'connecting', '');
  const client = connect(STREAM_PATH, {
    transports: [pane.transport],
    ...(pane.transport === 'polling' || pane.transport === 'interval-polling' ? { interval } : {}),
  });
  pane.client = client;
  client.addEventListener('open', () => {
    if (pane.client !== client) return;
    pane.setupMs = performance.now() - started;
    setState(pane, 'open', 'open');
    pane.fields.setup!.textContent = fmtMs(pane.setupMs);
  });
  client.addEventListener('resume', () => {
    if (pane.client === client) setState(pane, 'open (resumed)', 'open');
  });
  client.addEventListener('reconnecting', () => {
    if (pane.client === client) setState(pane, 'reconnecting…', 'closed');
  });
  client.addEventListener('close', (event) => {
    if (pane.client !== client) return;
    const e = event as Event & { code: number; willReconnect: boolean };
    if (!e.willReconnect) setState(pane, `closed (${e.code})`, 'closed');
  });
  client.addEventListener('message', (event) => {
    if (pane.client !== client) return;
    const data = (event as Event & { data: string | ArrayBuffer }).data;
    if (typeof data === 'string') receive(pane, data);
  });
}

function receive(pane: PaneState, text: string): void {
  const message = parseMessage(text);
  if (message === null) return;
  const latency = clock.now() - message.t;
  const p = pane.pending;
  if (message.seq <= pane.lastSeq) {
    p.duplicates++;
    return;
  }
  // A new page starts at whatever the stream is at; after that, a jump is a loss.
  if (pane.lastSeq !== 0 && message.seq > pane.lastSeq + 1) p.lost += message.seq - pane.lastSeq - 1;
  pane.lastSeq = message.seq;
  pane.received++;
  pane.lastLatency = latency;
  p.delivered++;
  p.payloadBytes += text.length;
  if (p.latencies.length < 20_000) p.latencies.push(Math.round(latency * 1000) / 1000);
  latencyChart.add(pane.transport, Date.now() / 1000, latency);
  pane.el.dataset.received = String(pane.received);
  pane.fields.lastText!.textContent = `this page: ${fmtCount(pane.received)} received · last #${message.seq} after ${fmtMs(latency)}`;
  const pulse = pane.fields.pulse!;
  pulse.classList.remove('on');
  // Restart the animation (a reflow between the two class changes).
  void pulse.offsetWidth;
  pulse.classList.add('on');
}

function renderPane(pane: PaneState, s: TransportSnapshot): void {
  const f = pane.fields;
  f.delivered!.textContent = fmtCount(s.delivered);
  f.p50!.textContent = s.latencyMs.count === 0 ? '–' : fmtMs(s.latencyMs.p50);
  f.p99!.textContent = s.latencyMs.count === 0 ? '–' : fmtMs(s.latencyMs.p99);
  f.requests!.textContent = fmtCount(s.requests);
  f.empty!.textContent = s.requests === 0 ? '0' : `${fmtCount(s.emptyResponses)} (${fmtPercent(s.emptyResponses, s.requests)})`;
  f.rpm!.textContent = s.perMessage.requests === null ? '–' : fmtNumber(s.perMessage.requests);
  f.bytesIn!.textContent = fmtBytes(s.bytesIn);
  f.bytesOut!.textContent = fmtBytes(s.bytesOut);
  f.bpm!.textContent = s.perMessage.bytes === null ? '–' : fmtBytes(s.perMessage.bytes);
  f.cpu!.textContent = s.perMessage.cpuMsPer1000 === null ? '–' : `${fmtMs(s.perMessage.cpuMsPer1000)}*`;
}

// ---- Table and the classic arithmetic ---------------------------------------------------

function renderTable(snapshot: StatsSnapshot): void {
  const head = `<thead><tr>
    <th>transport</th><th>peers</th><th>delivered<small>messages</small></th><th>lost</th>
    <th>HTTP requests</th><th>empty<small>responses</small></th><th>requests<small>per message</small></th>
    <th>bytes in<small>to server</small></th><th>bytes out<small>from server</small></th>
    <th>wire bytes<small>per message</small></th><th>overhead<small>bytes / message</small></th>
    <th>latency p50<small>ms</small></th><th>latency p99<small>ms</small></th><th>CPU*<small>ms / 1,000 msgs</small></th>
  </tr></thead>`;
  const rows = LAB_TRANSPORTS.map((t) => {
    const s = snapshot.transports[t];
    const look = LOOK[t];
    const n = (v: number | null, f: (x: number) => string = fmtNumber) => (v === null ? '–' : f(v));
    return `<tr data-transport="${t}">
      <td><span class="swatch" style="--colour:${look.colour}"></span>${look.label}</td>
      <td>${fmtCount(s.peers)}</td><td>${fmtCount(s.delivered)}</td><td>${fmtCount(s.lost)}</td>
      <td>${fmtCount(s.requests)}</td><td>${fmtCount(s.emptyResponses)}</td><td>${n(s.perMessage.requests)}</td>
      <td>${fmtBytes(s.bytesIn)}</td><td>${fmtBytes(s.bytesOut)}</td>
      <td>${n(s.perMessage.bytes)}</td><td>${n(s.perMessage.overheadBytes)}</td>
      <td>${s.latencyMs.count === 0 ? '–' : fmtNumber(s.latencyMs.p50)}</td><td>${s.latencyMs.count === 0 ? '–' : fmtNumber(s.latencyMs.p99)}</td>
      <td>${n(s.perMessage.cpuMsPer1000)}</td></tr>`;
  }).join('');
  $('table').innerHTML = head + `<tbody>${rows}</tbody>`;
  const p = snapshot.process;
  $('table-note').textContent =
    `Since the last reset, ${fmtNumber(snapshot.elapsedSec)} s ago: ${fmtCount(snapshot.stream.published)} events of ${snapshot.stream.size} B at ${snapshot.stream.rate}/s on average; ` +
    `this page polls every ${fmtMs(interval)}. *CPU attributed to a transport: ${fmtMs(p.attributedCpuMs)} of the process's ${fmtMs(p.cpuMs)} ` +
    `(${fmtNumber(p.cpuPercent)} % of one core); the rest is shared work (HTTP parsing, GC, timers, this page's reports).`;
  renderClassic(snapshot);
}

function renderClassic(snapshot: StatsSnapshot): void {
  const polling = snapshot.transports.polling;
  const ws = snapshot.transports.websocket;
  const pollBytes = polling.requests > 0 ? (polling.bytesIn + polling.bytesOut) / polling.requests : null;
  const wsOverhead = ws.perMessage.overheadBytes;
  const measured =
    pollBytes === null
      ? 'Measured here: waiting for the first polls.'
      : `Measured here, now: one short poll costs <strong>${fmtNumber(pollBytes)} bytes</strong> on the wire (request and response, headers and body; ` +
        `${fmtPercent(polling.emptyResponses, polling.requests)} of them came back empty), ` +
        (wsOverhead === null ? 'and WebSocket has not delivered yet.' : `and a WebSocket message costs <strong>${fmtNumber(wsOverhead)} bytes</strong> beyond its payload.`) +
        ' Browsers send fewer headers than the 2010 example (no cookies here, no Flash-era user agent), so a poll is lighter than 871 B — but it is paid on every request, empty or not, while the frame header is paid only per message.';
  $('classic').innerHTML =
    `<p><strong>The classic arithmetic</strong> (websocket.org, 2010): a poll carries 871 bytes of HTTP headers, a WebSocket frame 2 bytes. ` +
    `1,000 clients polling once a second move 871,000 B/s (≈ 6.6 Mbit/s) of headers; on WebSocket, one message a second each, 2,000 B/s (≈ 0.015 Mbit/s).</p>` +
    `<p>${measured}</p>`;
}

// ---- Reports and snapshots ---------------------------------------------------------------

async function reportAndRefresh(): Promise<void> {
  const transports: Record<string, Pending> = {};
  for (const pane of panes.values()) {
    transports[pane.transport] = pane.pending;
    pane.pending = freshPending();
  }
  let snapshot: StatsSnapshot;
  try {
    const response = await fetch('/lab/report', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ transports }),
    });
    snapshot = (await response.json()) as StatsSnapshot;
  } catch {
    $('status').textContent = 'server unreachable';
    return;
  }
  render(snapshot);
}

function render(snapshot: StatsSnapshot): void {
  for (const pane of panes.values()) renderPane(pane, snapshot.transports[pane.transport]);
  renderTable(snapshot);
  syncControls(snapshot);
  const at = snapshot.now / 1000;
  if (previous !== null && snapshot.since !== previous.since) recent.length = 0;
  recent.push(snapshot);
  // Rates over a sliding window of a few seconds: one-second samples of polls that come
  // once a second would only show aliasing.
  while (recent.length > RATE_WINDOW + 1) recent.shift();
  const first = recent[0]!;
  const dt = (snapshot.now - first.now) / 1000;
  if (recent.length > 1 && dt > 0) {
    const req = {} as Record<LabTransport, number | null>;
    const bytes = {} as Record<LabTransport, number | null>;
    const perMessage = {} as Record<LabTransport, number | null>;
    for (const t of LAB_TRANSPORTS) {
      const a = first.transports[t];
      const b = snapshot.transports[t];
      req[t] = (b.requests - a.requests) / dt;
      bytes[t] = (b.bytesIn + b.bytesOut - a.bytesIn - a.bytesOut) / dt;
      perMessage[t] = b.perMessage.bytes;
    }
    requestsChart.push(at, req);
    bytesChart.push(at, bytes);
    perMessageChart.push(at, perMessage);
  }
  previous = snapshot;
  latencyChart.redraw();
  $('status').textContent = `clock offset ${fmtMs(clock.offset)} (±${fmtMs(clock.rtt / 2)}) · ${fmtNumber(snapshot.process.cpuPercent)} % server CPU`;
}

// ---- Controls ------------------------------------------------------------------------------

let controlsTouched = 0;

function syncControls(snapshot: StatsSnapshot): void {
  // Another visitor may change the stream: follow the server, unless the user just did.
  if (Date.now() - controlsTouched < 3000) return;
  selectValue($('rate') as HTMLSelectElement, snapshot.stream.rate);
  selectValue($('size') as HTMLSelectElement, snapshot.stream.size);
}

function selectValue(select: HTMLSelectElement, value: number): void {
  const text = String(value);
  if (!Array.from(select.options).some((o) => o.value === text)) {
    const option = document.createElement('option');
    option.value = text;
    option.textContent = select.id === 'rate' ? `${text} / s` : select.id === 'size' ? fmtBytes(value) : fmtMs(value);
    select.append(option);
  }
  select.value = text;
}

function setupControls(): void {
  const rate = $('rate') as HTMLSelectElement;
  const size = $('size') as HTMLSelectElement;
  const poll = $('interval') as HTMLSelectElement;
  const send = async () => {
    controlsTouched = Date.now();
    await fetch('/lab/config', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rate: Number(rate.value), size: Number(size.value) }),
    });
  };
  rate.addEventListener('change', () => void send());
  size.addEventListener('change', () => void send());
  poll.addEventListener('change', () => {
    interval = Number(poll.value);
    for (const t of ['polling', 'interval-polling'] as const) openPane(panes.get(t)!);
  });
  $('reset').addEventListener('click', async () => {
    const response = await fetch('/lab/reset', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    const snapshot = (await response.json()) as StatsSnapshot;
    for (const pane of panes.values()) pane.pending = freshPending();
    latencyChart.clear();
    requestsChart.clear();
    bytesChart.clear();
    perMessageChart.clear();
    previous = null;
    recent.length = 0;
    render(snapshot);
  });
}

// ---- Start -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const host = $('panes');
  for (const t of LAB_TRANSPORTS) {
    const pane = buildPane(t);
    panes.set(t, pane);
    host.append(pane.el);
  }
  latencyChart = new LatencyChart($('chart-latency'));
  requestsChart = new SeriesChart($('chart-requests'), 'rate');
  bytesChart = new SeriesChart($('chart-bytes'), 'bytes-rate');
  perMessageChart = new SeriesChart($('chart-per-message'), 'bytes');

  const config = (await (await fetch('/lab/config')).json()) as { rate: number; size: number; interval: number };
  interval = config.interval;
  selectValue($('rate') as HTMLSelectElement, config.rate);
  selectValue($('size') as HTMLSelectElement, config.size);
  selectValue($('interval') as HTMLSelectElement, config.interval);
  setupControls();
  await clock.sync(20);
  for (const pane of panes.values()) openPane(pane);
  startChat();
  setInterval(() => void reportAndRefresh(), REPORT_EVERY_MS);
  setInterval(() => void clock.sync(5).catch(() => {}), 20_000);
  document.body.dataset.ready = 'true';
}

void main();
