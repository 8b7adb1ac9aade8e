/**
 * The lab page: one connection per transport to the measured stream, live panes, charts
 * and a table fed by the server's `/stats` (via the page's own reports), and a chat.
 */
import { type HotlineClient, connect } from 'hotline/client';
import type { StatsSnapshot, TransportSnapshot } from '../src/snapshot.js';
import type { ReceiverReport } from '../src/receiver-report.js';
import { classicArithmetic } from '../src/classic-arithmetic.js';
import { LAB_TRANSPORTS, LOOK, type LabTransport } from '../src/palette.js';
import { parseMessage } from '../src/stream-message.js';
import { LatencyChart, SeriesChart } from './charts.js';
import { ServerClock } from './clock.js';
import { startChat } from './chat.js';
import { fmtBytes, fmtCount, fmtMs, fmtNumber, fmtPercent } from './format.js';

const STREAM_PATH = '/lab/stream';
const REPORT_EVERY_MS = 1000;

/** What a pane received since its last report (see receiver-report.ts). */
type Pending = ReceiverReport;

interface PaneState {
  transport: LabTransport;
  client: HotlineClient | null;
  /**
   * Messages this page received since it opened, and the last sequence number on the
   * current connection (for gaps and repeats; 0 when a connection opens: the messages
   * published while none was open were never sent to it, so they are not lost).
   */
  received: number;
  lastSeq: number;
  /** The newest message, shown at the next animation frame (not per message: see receive). */
  shown: string | null;
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
  return { seqs: [], latencies: [], lost: 0, duplicates: 0, payloadBytes: 0 };
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
      <div><span class="value" data-k="delivered">0</span><span class="label">delivered <span data-k="sent">of 0 sent</span></span></div>
      <div><span class="value" data-k="p50">–</span><span class="label">latency p50</span></div>
    </div>
    <dl class="facts">
      <dt>in flight · lost</dt><dd data-k="flight">–</dd>
      <dt>latency p99</dt><dd data-k="p99">–</dd>
      <dt>HTTP requests</dt><dd data-k="requests">0</dd>
      <dt>… came back empty</dt><dd data-k="empty">0</dd>
      <dt>requests / message</dt><dd data-k="rpm">–</dd>
      <dt>bytes in (to server)</dt><dd data-k="bytesIn">–</dd>
      <dt>bytes out</dt><dd data-k="bytesOut">–</dd>
      <dt>wire bytes / message</dt><dd data-k="bpm">–</dd>
      <dt>connection set-up</dt><dd data-k="setup">–</dd>
    </dl>
    <p class="window">Counted since the window began (see “Side by side”), every viewer's traffic.</p>
    <div class="last"><span class="pulse" data-k="pulse"></span><span data-k="lastText">waiting for the first event…</span></div>`;
  const fields: Record<string, HTMLElement> = {};
  for (const node of Array.from(el.querySelectorAll<HTMLElement>('[data-k]'))) fields[node.dataset.k!] = node;
  return { transport, client: null, received: 0, lastSeq: 0, shown: null, lastLatency: null, setupMs: null, pending: freshPending(), el, fields };
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
    pane.lastSeq = 0;
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
  // A connection starts at whatever the stream is at; after that, a jump is a loss.
  if (pane.lastSeq !== 0 && message.seq > pane.lastSeq + 1) p.lost += message.seq - pane.lastSeq - 1;
  pane.lastSeq = message.seq;
  pane.received++;
  pane.lastLatency = latency;
  // (A report holds at most MAX_REPORTED_MESSAGES: beyond, in a tab the browser throttled,
  // the rest are this page's alone.)
  if (p.seqs.length < 20_000) {
    p.seqs.push(message.seq);
    p.latencies.push(Math.round(latency * 1000) / 1000);
    p.payloadBytes += text.length;
  }
  latencyChart.add(pane.transport, Date.now() / 1000, latency);
  // The DOM is touched once per frame, not per message: at 100 messages a second on five
  // panes, a layout per message kept the main thread busy and delayed the next
  // messages' events, which is latency the page would then measure.
  if (pane.shown === null) requestAnimationFrame(() => show(pane));
  pane.shown = `this page: ${fmtCount(pane.received)} received · last #${message.seq} after ${fmtMs(latency)}`;
}

function show(pane: PaneState): void {
  pane.el.dataset.received = String(pane.received);
  pane.fields.lastText!.textContent = pane.shown;
  pane.shown = null;
  const pulse = pane.fields.pulse!;
  pulse.classList.remove('on');
  // Restart the animation (a reflow between the two class changes), at most once a frame.
  void pulse.offsetWidth;
  pulse.classList.add('on');
}

function renderPane(pane: PaneState, s: TransportSnapshot): void {
  const f = pane.fields;
  f.delivered!.textContent = fmtCount(s.delivered);
  f.sent!.textContent = `of ${fmtCount(s.sent)} sent`;
  f.flight!.textContent = `${fmtCount(s.inFlight)} · ${fmtCount(s.lost)}`;
  f.p50!.textContent = s.latencyMs.count === 0 ? '–' : fmtMs(s.latencyMs.p50);
  f.p99!.textContent = s.latencyMs.count === 0 ? '–' : fmtMs(s.latencyMs.p99);
  // An open WebSocket made its one request before the window began, if a reset came after.
  f.requests!.textContent = pane.transport === 'websocket' && s.requests === 0 && s.peers > 0 ? '0 (upgraded before the window)' : fmtCount(s.requests);
  f.empty!.textContent = s.requests === 0 ? '0' : `${fmtCount(s.emptyResponses)} (${fmtPercent(s.emptyResponses, s.requests)})`;
  f.rpm!.textContent = s.perMessage.requests === null ? '–' : fmtNumber(s.perMessage.requests);
  f.bytesIn!.textContent = fmtBytes(s.bytesIn);
  f.bytesOut!.textContent = fmtBytes(s.bytesOut);
  f.bpm!.textContent = s.perMessage.bytes === null ? '–' : fmtBytes(s.perMessage.bytes);
}

// ---- Table and the classic arithmetic ---------------------------------------------------

function renderTable(snapshot: StatsSnapshot): void {
  const head = `<thead><tr>
    <th>transport</th><th>peers<small>now</small></th><th>sent<small>copies</small></th><th>delivered<small>messages</small></th>
    <th>in flight</th><th>lost</th>
    <th>HTTP requests</th><th>empty<small>responses</small></th><th>requests<small>per message</small></th>
    <th>bytes in<small>to server</small></th><th>bytes out<small>from server</small></th>
    <th>wire bytes<small>per message</small></th><th>overhead<small>bytes / message</small></th>
    <th>latency p50<small>ms</small></th><th>latency p99<small>ms</small></th>
  </tr></thead>`;
  const rows = LAB_TRANSPORTS.map((t) => {
    const s = snapshot.transports[t];
    const look = LOOK[t];
    const n = (v: number | null, f: (x: number) => string = fmtNumber) => (v === null ? '–' : f(v));
    return `<tr data-transport="${t}">
      <td><span class="swatch" style="--colour:${look.colour}"></span>${look.label}</td>
      <td>${fmtCount(s.peers)}</td><td>${fmtCount(s.sent)}</td><td>${fmtCount(s.delivered)}</td><td>${fmtCount(s.inFlight)}</td><td>${fmtCount(s.lost)}</td>
      <td>${fmtCount(s.requests)}</td><td>${fmtCount(s.emptyResponses)}</td><td>${n(s.perMessage.requests)}</td>
      <td>${fmtBytes(s.bytesIn)}</td><td>${fmtBytes(s.bytesOut)}</td>
      <td>${n(s.perMessage.bytes)}</td><td>${n(s.perMessage.overheadBytes)}</td>
      <td>${s.latencyMs.count === 0 ? '–' : fmtNumber(s.latencyMs.p50)}</td><td>${s.latencyMs.count === 0 ? '–' : fmtNumber(s.latencyMs.p99)}</td></tr>`;
  }).join('');
  $('table').innerHTML = head + `<tbody>${rows}</tbody>`;
  const p = snapshot.process;
  const w = snapshot.stream;
  $('window').textContent =
    `Window: since ${snapshot.resets === 0 ? 'the server started' : 'the last reset'}, ${fmtNumber(snapshot.elapsedSec)} s ago (${new Date(snapshot.since).toLocaleTimeString('en-GB')}). ` +
    `${fmtCount(w.published)} events published in it` +
    (w.published === 0 ? '' : ` (#${fmtCount(w.firstSeq)} to #${fmtCount(w.lastSeq)})`) +
    `, ${w.size} B each at ${w.rate}/s on average.`;
  $('table-note').textContent =
    `Every counter in the panes and this table covers that window and every viewer of this server. ` +
    `“Sent” counts the copies of the window's events the server handed to that transport's connections, one per connection open at the time: ` +
    `a page that arrived late, or a poller reconnecting, was sent fewer; sent = delivered + in flight + lost. ` +
    `A page closed over an HTTP transport keeps its session, and its copies stay in flight, until the session expires (45 s or more). ` +
    `Only events of the window count: a backlog from before it, or from a connection closed since, is not a delivery. ` +
    `Polls every ${fmtMs(w.interval)}. Server CPU, all transports together: ${fmtMs(p.cpuMs)} (${fmtNumber(p.cpuPercent)} % of one core); ` +
    `per transport, see “How it is measured”.`;
  const polling = snapshot.transports.polling;
  $('classic').innerHTML = classicArithmetic({
    poll: snapshot.poll,
    averagePollBytes: polling.requests > 0 ? (polling.bytesIn + polling.bytesOut) / polling.requests : null,
    emptyShare: polling.requests > 0 ? polling.emptyResponses / polling.requests : null,
    webSocketOverhead: snapshot.transports.websocket.perMessage.overheadBytes,
    ...(snapshot.protocol === 'h2' ? { http2HeaderBytes: polling.http2?.headerBytesPerRequest ?? null } : {}),
  });
}

// ---- HTTP/1.1 against HTTP/2 ------------------------------------------------------------

/** The protocol this page itself was loaded over ('h2', 'http/1.1'), as the browser says. */
function pageProtocol(): string {
  const entry = performance.getEntriesByType('navigation')[0] as (PerformanceEntry & { nextHopProtocol?: string }) | undefined;
  return entry?.nextHopProtocol || 'unknown';
}

function renderHttp2(snapshot: StatsSnapshot): void {
  const page = pageProtocol();
  const h2 = snapshot.protocol === 'h2';
  const section = $('http2-section');
  section.dataset.protocol = snapshot.protocol;
  $('protocol').innerHTML = h2
    ? `<strong>HTTP/2</strong> over TLS: this page came over <code>${page}</code>; every transport's requests are streams on one connection per viewer, WebSocket an extended CONNECT stream (RFC 8441).`
    : `<strong>HTTP/1.1</strong>, cleartext: this page came over <code>${page}</code>. <code>hotline serve --http2</code> serves the same lab over HTTP/2.`;
  const n = (v: number | null | undefined) => (v === null || v === undefined ? '–' : fmtNumber(v));
  const poll = snapshot.poll;
  const h1Head = poll === null ? null : poll.requestBytes + poll.responseHeadBytes;
  if (!h2) {
    $('http2-note').textContent =
      `This server speaks HTTP/1.1: every request repeats its headers in full, ` +
      (h1Head === null ? 'as the next short poll will show' : `${fmtBytes(h1Head)} of request and response head for the last short poll`) +
      `, and each transport holds its own TCP connections (${LAB_TRANSPORTS.map((t) => `${LOOK[t].label} ${fmtCount(snapshot.transports[t].connections)}`).join(', ')} in this window). ` +
      `Over HTTP/2 (hotline serve --http2) the table here shows, per transport, the header bytes after HPACK, the frames per message and the connections.`;
    $('http2-table').innerHTML = `<thead><tr><th>transport</th><th>TCP connections<small>opened in the window</small></th><th>HTTP requests</th><th>wire bytes<small>per request</small></th></tr></thead><tbody>${LAB_TRANSPORTS.map((t) => {
      const s = snapshot.transports[t];
      return `<tr data-transport="${t}"><td>${LOOK[t].label}</td><td>${fmtCount(s.connections)}</td><td>${fmtCount(s.requests)}</td><td>${s.requests === 0 ? '–' : fmtNumber((s.bytesIn + s.bytesOut) / s.requests)}</td></tr>`;
    }).join('')}</tbody>`;
    return;
  }
  const tls = snapshot.tls!;
  $('http2-note').textContent =
    `Counted from the frames of each transport's streams, decoded at the server (HEADERS and CONTINUATION payloads are header bytes, DATA payloads the payload, the rest framing: 9 bytes a frame). ` +
    `HPACK sends a repeated header as an index into a table both ends keep, so a poll's headers shrink after the first` +
    (h1Head === null ? '' : ` (HTTP/1.1 sends ${fmtBytes(h1Head)} each time)`) +
    `. TLS, every connection together: ${fmtCount(tls.connections)} connections (${fmtCount(tls.h2Connections)} h2), ${fmtBytes(tls.bytesIn)} in, ${fmtBytes(tls.bytesOut)} out, encrypted; ` +
    `the connections' own frames (SETTINGS, PING, WINDOW_UPDATE) ${fmtBytes(tls.connectionFrames.up.framingBytes + tls.connectionFrames.down.framingBytes)}.`;
  const head = `<thead><tr><th>transport</th><th>header bytes<small>per request, HPACK</small></th><th>request headers<small>bytes / request</small></th><th>response headers<small>bytes / request</small></th>
    <th>frames<small>per message</small></th><th>framing<small>bytes / message</small></th><th>connections<small>carrying its streams</small></th><th>streams<small>requests</small></th></tr></thead>`;
  const rows = LAB_TRANSPORTS.map((t) => {
    const s = snapshot.transports[t];
    const f = s.http2;
    return `<tr data-transport="${t}"><td><span class="swatch" style="--colour:${LOOK[t].colour}"></span>${LOOK[t].label}</td>
      <td>${n(f?.headerBytesPerRequest)}</td><td>${n(f?.requestHeaderBytesPerRequest)}</td><td>${n(f?.responseHeaderBytesPerRequest)}</td>
      <td>${n(f?.framesPerMessage)}</td><td>${n(f?.framingBytesPerMessage)}</td><td>${fmtCount(s.connections)}</td><td>${fmtCount(s.requests)}</td></tr>`;
  }).join('');
  $('http2-table').innerHTML = head + `<tbody>${rows}</tbody>`;
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
    if (!response.ok) throw new Error(`report refused: ${response.status}`);
    snapshot = (await response.json()) as StatsSnapshot;
  } catch {
    $('status').textContent = 'server unreachable';
    return;
  }
  render(snapshot);
}

function render(snapshot: StatsSnapshot): void {
  // A window that began after the charts' data did: the charts start over with it.
  if (previous !== null && snapshot.since !== previous.since) clearCharts();
  for (const pane of panes.values()) renderPane(pane, snapshot.transports[pane.transport]);
  renderTable(snapshot);
  renderHttp2(snapshot);
  syncControls(snapshot);
  // The page's clock, like the latency dots, so that every chart shares one time axis.
  const at = Date.now() / 1000;
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

function clearCharts(): void {
  latencyChart.clear();
  requestsChart.clear();
  bytesChart.clear();
  perMessageChart.clear();
  recent.length = 0;
}

// ---- Controls ------------------------------------------------------------------------------

let controlsTouched = 0;

function syncControls(snapshot: StatsSnapshot): void {
  // Another viewer may change the stream (it is shared): follow the server, unless this
  // page just did.
  if (Date.now() - controlsTouched < 3000) return;
  selectValue($('rate') as HTMLSelectElement, snapshot.stream.rate);
  selectValue($('size') as HTMLSelectElement, snapshot.stream.size);
  selectValue($('interval') as HTMLSelectElement, snapshot.stream.interval);
  if (snapshot.stream.interval !== interval) setPollInterval(snapshot.stream.interval);
}

/** New pollers at the new interval (a poller's interval is fixed when it connects). */
function setPollInterval(ms: number): void {
  interval = ms;
  for (const t of ['polling', 'interval-polling'] as const) openPane(panes.get(t)!);
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

async function post<T>(path: string, body: unknown): Promise<T | null> {
  const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) {
    $('status').textContent = `${path}: ${response.status} ${((await response.json().catch(() => ({}))) as { error?: string }).error ?? ''}`;
    return null;
  }
  return (await response.json()) as T;
}

function setupControls(): void {
  const rate = $('rate') as HTMLSelectElement;
  const size = $('size') as HTMLSelectElement;
  const poll = $('interval') as HTMLSelectElement;
  const send = async () => {
    controlsTouched = Date.now();
    const config = await post<{ interval: number }>('/lab/config', { rate: Number(rate.value), size: Number(size.value), interval: Number(poll.value) });
    if (config !== null && config.interval !== interval) setPollInterval(config.interval);
  };
  rate.addEventListener('change', () => void send());
  size.addEventListener('change', () => void send());
  poll.addEventListener('change', () => void send());
  $('reset').addEventListener('click', async () => {
    const snapshot = await post<StatsSnapshot>('/lab/reset', {});
    if (snapshot === null) return;
    // What this page received before is of the old window: the server would not count it.
    for (const pane of panes.values()) pane.pending = freshPending();
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
