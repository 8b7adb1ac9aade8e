import { type HotlineClient, connect } from 'hotline/client';
import { LAB_TRANSPORTS, LOOK, type LabTransport } from '../src/palette.js';
import { fmtMs } from './format.js';

/**
 * The duplex demo: a chat over the transport the visitor picks. The page marks its own
 * messages with an id, so when one comes back down it can show the round trip: up over
 * WebSocket or a POST, down over the transport's channel.
 */

interface Line {
  type: 'message';
  name: string;
  text: string;
  id: string;
  transport: string;
  at: number;
}

const HOW: Record<LabTransport, string> = {
  websocket: 'up and down on one WebSocket connection',
  sse: 'up: one POST per message · down: the event stream',
  'long-polling': 'up: one POST per message · down: the held request',
  polling: 'up: one POST per message · down: the next poll',
  'interval-polling': 'up: one POST per message · down: the next tick of the poll clock',
};

export function startChat(): void {
  const chips = document.getElementById('chat-transports')!;
  const log = document.getElementById('chat-log')!;
  const state = document.getElementById('chat-state')!;
  const form = document.getElementById('chat-form') as HTMLFormElement;
  const name = document.getElementById('chat-name') as HTMLInputElement;
  const text = document.getElementById('chat-text') as HTMLInputElement;
  const sent = new Map<string, number>();
  const trips = new Map<string, number>();
  let client: HotlineClient | null = null;
  let current: LabTransport = 'websocket';
  name.value = localStorage.getItem('hotline-lab-name') ?? `visitor-${Math.floor(Math.random() * 900 + 100)}`;

  for (const t of LAB_TRANSPORTS) {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.setAttribute('role', 'radio');
    chip.dataset.transport = t;
    chip.style.setProperty('--colour', LOOK[t].colour);
    chip.textContent = LOOK[t].label;
    chip.addEventListener('click', () => open(t));
    chips.append(chip);
  }

  function show(line: Line, history: boolean): void {
    log.querySelector('.empty')?.remove();
    const item = document.createElement('li');
    const look = LOOK[line.transport as LabTransport];
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.style.setProperty('--colour', look?.colour ?? '#555');
    badge.textContent = look?.label ?? line.transport;
    badge.title = `sent over ${look?.label ?? line.transport}`;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = line.name;
    const body = document.createElement('span');
    body.textContent = line.text;
    item.append(badge, who, body);
    const start = sent.get(line.id);
    if (!history && start !== undefined) {
      sent.delete(line.id);
      trips.set(line.id, performance.now() - start);
    }
    // Kept by id, so a history replayed after switching transport still shows the trip.
    const tripMs = trips.get(line.id);
    if (tripMs !== undefined) {
      const trip = document.createElement('span');
      trip.className = 'trip';
      trip.textContent = `your message: up and back in ${fmtMs(tripMs)}`;
      item.append(trip);
    }
    log.append(item);
    while (log.children.length > 60) log.firstElementChild!.remove();
    log.scrollTop = log.scrollHeight;
  }

  function open(transport: LabTransport): void {
    current = transport;
    for (const chip of Array.from(chips.children)) chip.setAttribute('aria-checked', String((chip as HTMLElement).dataset.transport === transport));
    client?.close();
    state.textContent = `connecting over ${LOOK[transport].label}…`;
    const c = connect('/lab/chat', { transports: [transport] });
    client = c;
    c.addEventListener('open', () => {
      if (client === c) state.textContent = `${LOOK[transport].label}: ${HOW[transport]}`;
    });
    c.addEventListener('close', () => {
      if (client === c) state.textContent = 'disconnected';
    });
    c.addEventListener('message', (event) => {
      if (client !== c) return;
      const data = (event as Event & { data: unknown }).data;
      if (typeof data !== 'string') return;
      let value: { type?: string; messages?: Line[] };
      try {
        value = JSON.parse(data) as typeof value;
      } catch {
        return;
      }
      if (value.type === 'history') {
        log.replaceChildren();
        for (const line of value.messages ?? []) show(line, true);
        if (log.children.length === 0) {
          const empty = document.createElement('li');
          empty.className = 'empty';
          empty.textContent = 'No messages yet. Say hello: open this page in a second window to see it arrive there too.';
          log.append(empty);
        }
      } else if (value.type === 'message') {
        show(value as Line, false);
      }
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const message = text.value.trim();
    if (message === '' || client === null) return;
    const id = Math.random().toString(36).slice(2, 12);
    sent.set(id, performance.now());
    localStorage.setItem('hotline-lab-name', name.value);
    client.send(JSON.stringify({ name: name.value, text: message, id }));
    text.value = '';
  });

  open(current);
}
