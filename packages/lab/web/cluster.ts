/**
 * The cluster page: a handful of universal clients (two per streaming transport) on the
 * feed, through the balancer, with recovery on; per node what `/cluster/stats` says, per
 * client what it received, and a Kill button per node.
 */
import { type HotlineClient, connect } from 'hotline/client';
import type { ClientMessageEvent, ClientRecoveryEvent } from 'hotline/client';
import { type ClusterStats, FEED_PATH, KILL_PATH, type NodeHello, type NodeStats, STATS_PATH } from '../src/cluster/cluster-protocol.js';
import { fmtCount } from './format.js';

type Transport = 'websocket' | 'sse' | 'long-polling';
const TRANSPORTS: readonly Transport[] = ['websocket', 'sse', 'long-polling'];
const PER_TRANSPORT = 2;
const LABEL: Record<Transport, string> = { websocket: 'WebSocket', sse: 'SSE', 'long-polling': 'Long polling' };

interface Recovery {
  readonly recovered: boolean;
  readonly missed: number | undefined;
  readonly reason: string | undefined;
}

interface ClientState {
  readonly name: string;
  readonly transport: Transport;
  client: HotlineClient;
  state: 'connecting' | 'open' | 'reconnecting' | 'closed';
  node: number | null;
  /** The node it was on before its last move, while the move is recent (the row is marked). */
  movedFrom: number | null;
  delivered: number;
  last: { epoch: string; offset: number } | null;
  /** Offsets that jumped (or an epoch that changed) with no recovery event saying so: must stay 0. */
  gaps: number;
  /** A repeated or older offset: the client drops repeats, so this must stay 0 too. */
  repeats: number;
  /** Set by a `recovered: false` event: the next jump was told, not silent. */
  told: boolean;
  recoveries: Recovery[];
  row: HTMLTableRowElement;
}

const clients: ClientState[] = [];
let stats: ClusterStats | null = null;

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function cell(row: HTMLTableRowElement, key: string): HTMLElement {
  return row.querySelector(`[data-k="${key}"]`)!;
}

function log(text: string): void {
  const list = $('log');
  list.querySelector('.empty')?.remove();
  const item = document.createElement('li');
  const time = new Date().toLocaleTimeString();
  item.innerHTML = `<span class="trip">${time}</span>`;
  item.prepend(document.createTextNode(text));
  list.prepend(item);
  while (list.children.length > 60) list.lastElementChild!.remove();
}

function openClient(transport: Transport, i: number): void {
  const name = `${LABEL[transport]} #${i + 1}`;
  const row = document.createElement('tr');
  row.dataset.client = name;
  row.innerHTML =
    `<td>${name}</td><td data-k="state">connecting</td><td data-k="node">–</td><td data-k="delivered">0</td>` +
    `<td data-k="last">–</td><td data-k="behind">–</td><td data-k="gaps">0</td><td data-k="recoveries">–</td>`;
  ($('clients') as HTMLTableElement).tBodies[0]!.append(row);
  const client = connect(FEED_PATH, { transports: [transport], recovery: true, reconnect: { minDelay: 250, maxDelay: 2000 } });
  const state: ClientState = { name, transport, client, state: 'connecting', node: null, movedFrom: null, delivered: 0, last: null, gaps: 0, repeats: 0, told: false, recoveries: [], row };
  clients.push(state);
  client.addEventListener('open', () => (state.state = 'open'));
  client.addEventListener('close', (event) => {
    const willReconnect = (event as Event & { willReconnect?: boolean }).willReconnect === true;
    state.state = willReconnect ? 'reconnecting' : 'closed';
    if (willReconnect && state.node !== null) log(`${name} lost node ${state.node}: reconnecting through the balancer`);
  });
  client.addEventListener('message', (event) => receive(state, event as ClientMessageEvent));
  client.addEventListener('recovery', (event) => {
    const recovery = event as ClientRecoveryEvent;
    state.recoveries.push({ recovered: recovery.recovered, missed: recovery.missed, reason: recovery.reason });
    if (!recovery.recovered) state.told = true;
    const where = state.node === null ? '' : ` on node ${state.node}`;
    log(recovery.recovered ? `${name}${where}: recovered, ${recovery.missed ?? 0} missed, replayed in order` : `${name}${where}: not recovered (${recovery.reason ?? 'unknown'})`);
  });
}

function receive(state: ClientState, event: ClientMessageEvent): void {
  if (event.topic === undefined) {
    // A node's greeting, sent to this client alone: which node serves it now.
    const hello = JSON.parse(String(event.data)) as NodeHello;
    if (state.node !== null && state.node !== hello.node) {
      state.movedFrom = state.node;
      log(`${state.name} moved: node ${state.node} → node ${hello.node}`);
    }
    state.node = hello.node;
    return;
  }
  const position = event.position;
  if (position === undefined) return;
  const last = state.last;
  if (last !== null && position.epoch === last.epoch) {
    if (position.offset <= last.offset) {
      state.repeats++;
      return;
    }
    if (position.offset !== last.offset + 1 && !state.told) state.gaps++;
  } else if (last !== null && !state.told) state.gaps++;
  state.told = false;
  state.last = { epoch: position.epoch, offset: position.offset };
  state.delivered++;
}

function renderClients(): void {
  const published = stats?.publisher.last ?? null;
  for (const c of clients) {
    cell(c.row, 'state').textContent = c.state;
    cell(c.row, 'node').textContent = c.node === null ? '–' : c.movedFrom !== null ? `${c.node} (was ${c.movedFrom})` : String(c.node);
    c.row.querySelector('td[data-k="node"]')!.classList.toggle('moved', c.movedFrom !== null);
    cell(c.row, 'delivered').textContent = fmtCount(c.delivered);
    cell(c.row, 'last').textContent = c.last === null ? '–' : `${c.last.epoch.slice(0, 6)} · ${c.last.offset}`;
    const behind = published !== null && c.last !== null && published.epoch === c.last.epoch ? Math.max(0, published.offset - c.last.offset) : null;
    cell(c.row, 'behind').textContent = behind === null ? '–' : String(behind);
    const gaps = cell(c.row, 'gaps');
    gaps.textContent = String(c.gaps + c.repeats);
    gaps.className = c.gaps + c.repeats === 0 ? 'ok' : 'bad';
    const shown = c.recoveries.slice(-3).map((r) => (r.recovered ? `✓ ${r.missed ?? 0} missed` : `✗ ${r.reason ?? ''}`));
    const recoveries = cell(c.row, 'recoveries');
    recoveries.textContent = shown.length === 0 ? '–' : (c.recoveries.length > 3 ? '… ' : '') + shown.join(', ');
    recoveries.className = c.recoveries.some((r) => !r.recovered) ? 'bad' : c.recoveries.length > 0 ? 'ok' : '';
  }
}

function renderNodes(): void {
  if (stats === null) return;
  const body = ($('nodes') as HTMLTableElement).tBodies[0]!;
  for (const node of stats.nodes) {
    let row = body.querySelector<HTMLTableRowElement>(`tr[data-node="${node.index}"]`);
    if (row === null) {
      row = document.createElement('tr');
      row.dataset.node = String(node.index);
      row.innerHTML =
        `<td>node ${node.index}</td><td data-k="state"></td><td data-k="pid"></td><td data-k="clients"></td><td data-k="delivered"></td>` +
        `<td data-k="replayed"></td><td data-k="recoveries"></td><td data-k="forwarded"></td><td data-k="restarts"></td>` +
        `<td><button type="button" class="kill" data-kill="${node.index}">Kill node ${node.index}</button></td>`;
      body.append(row);
      const button = row.querySelector<HTMLButtonElement>('button')!;
      button.addEventListener('click', () => void kill(node.index, button));
    }
    fillNode(row, node);
  }
  const { publisher } = stats;
  $('rate').textContent = String(publisher.rate);
  $('node-count').textContent = `${stats.nodes.length}`;
  $('publisher').textContent =
    `Publisher: ${fmtCount(publisher.acknowledged)} publishes acknowledged by Redis` +
    (publisher.last === null ? '' : `, the last at offset ${publisher.last.offset} (epoch ${publisher.last.epoch.slice(0, 6)})`) +
    (publisher.failed > 0 ? `; ${fmtCount(publisher.failed)} failed (Redis unreachable: not published, so nobody misses them)` : '') +
    '. Deliveries are as each node last reported them (every 250 ms).';
}

function fillNode(row: HTMLTableRowElement, node: NodeStats): void {
  const state = cell(row, 'state');
  state.textContent = node.state === 'down' ? `down (${node.lastExit ?? '?'}), restarting` : node.state;
  state.className = `node-state ${node.state}`;
  cell(row, 'pid').textContent = `${node.pid ?? '–'} · ${node.port}`;
  cell(row, 'clients').textContent = fmtCount(node.clients);
  cell(row, 'delivered').textContent = fmtCount(node.delivered);
  cell(row, 'replayed').textContent = fmtCount(node.replayed);
  cell(row, 'recoveries').textContent =
    node.unrecovered > 0 ? `${node.recovered} ✓, ${node.unrecovered} ✗` : node.recovered > 0 ? `${node.recovered} ✓` : '0';
  cell(row, 'forwarded').textContent = fmtCount(node.forwarded);
  cell(row, 'restarts').textContent = node.restarts === 0 ? '0' : `${node.restarts} (last: ${node.lastExit ?? '?'})`;
  row.querySelector<HTMLButtonElement>('button')!.disabled = node.state !== 'up';
}

async function kill(index: number, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  const response = await fetch(KILL_PATH, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ node: index }) });
  const answer = (await response.json()) as { error?: string };
  if (response.ok) {
    for (const c of clients) c.movedFrom = null;
    log(`node ${index} killed (SIGKILL); it starts again in 2 s`);
  } else log(`kill node ${index}: ${answer.error ?? response.status}`);
}

async function poll(): Promise<void> {
  try {
    const response = await fetch(STATS_PATH, { cache: 'no-store' });
    stats = (await response.json()) as ClusterStats;
    const up = stats.nodes.filter((node) => node.state === 'up').length;
    $('status').textContent = `${up} of ${stats.nodes.length} nodes up`;
    renderNodes();
  } catch {
    $('status').textContent = 'the lab does not answer';
  }
}

for (const transport of TRANSPORTS) for (let i = 0; i < PER_TRANSPORT; i++) openClient(transport, i);
void poll();
setInterval(() => void poll(), 500);
setInterval(renderClients, 250);
