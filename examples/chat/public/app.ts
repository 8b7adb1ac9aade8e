/**
 * The chat page. `hotline/client` opens a WebSocket when it can and falls back to SSE,
 * then long polling; the events are the same whichever carries them.
 *
 * `?transports=sse,long-polling` in the page's address skips WebSocket, to try the
 * fallbacks; `?name=…&room=…` joins at once.
 */
import { connect, type HotlineClient, type TransportName } from 'hotline/client';

type ChatEvent =
  | { type: 'welcome'; room: string; name: string; members: string[] }
  | { type: 'joined'; name: string; members: string[] }
  | { type: 'left'; name: string; members: string[] }
  | { type: 'message'; name: string; text: string; at: number }
  | { type: 'error'; error: string };

const DEFAULT_TRANSPORTS: TransportName[] = ['websocket', 'sse', 'long-polling'];

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const join = byId<HTMLFormElement>('join');
const say = byId<HTMLFormElement>('say');
const log = byId<HTMLOListElement>('log');
const status = byId<HTMLParagraphElement>('status');
const members = byId<HTMLUListElement>('members');
const params = new URLSearchParams(location.search);

let client: HotlineClient | null = null;

function transports(): TransportName[] {
  const asked = params.get('transports')?.split(',').filter((name): name is TransportName => DEFAULT_TRANSPORTS.includes(name as TransportName));
  return asked !== undefined && asked.length > 0 ? asked : DEFAULT_TRANSPORTS;
}

function setStatus(text: string, kind: 'open' | 'down' | '' = ''): void {
  status.textContent = text;
  status.className = kind;
}

/** Text only: a name or a line is never parsed as HTML. */
function line(kind: 'message' | 'notice' | 'error', text: string, name?: string, at?: number): void {
  const item = document.createElement('li');
  item.className = kind;
  if (at !== undefined) {
    const time = document.createElement('time');
    time.dateTime = new Date(at).toISOString();
    time.textContent = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    item.append(time);
  }
  if (name !== undefined) {
    const who = document.createElement('span');
    who.className = 'name';
    who.textContent = name;
    item.append(who);
  }
  item.append(text);
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showMembers(names: string[]): void {
  members.replaceChildren(...names.map((name) => Object.assign(document.createElement('li'), { textContent: name })));
}

function receive(event: ChatEvent): void {
  switch (event.type) {
    case 'welcome':
      line('notice', `You joined #${event.room} as ${event.name}.`);
      showMembers(event.members);
      break;
    case 'joined':
      line('notice', `${event.name} joined.`);
      showMembers(event.members);
      break;
    case 'left':
      line('notice', `${event.name} left.`);
      showMembers(event.members);
      break;
    case 'message':
      line('message', event.text, event.name, event.at);
      break;
    case 'error':
      line('error', event.error);
      break;
  }
}

function enter(name: string, room: string): void {
  client?.close(1000, 'left the page');
  const query = new URLSearchParams({ room, name });
  const chat = connect(`/chat?${query}`, { transports: transports() });
  client = chat;
  setStatus('connecting…');
  join.hidden = true;
  byId('room').hidden = false;
  chat.onopen = () => setStatus(`#${room} as ${name}, over ${chat.transport}`, 'open');
  chat.onmessage = (event) => {
    if (typeof event.data === 'string') receive(JSON.parse(event.data) as ChatEvent);
  };
  chat.addEventListener('reconnecting', () => setStatus('connection lost, reconnecting…', 'down'));
  chat.onclose = (event) => {
    if (event.willReconnect) return setStatus('connection lost, reconnecting…', 'down');
    setStatus(`disconnected (${event.code}${event.reason ? ` ${event.reason}` : ''})`, 'down');
  };
  (say.elements.namedItem('text') as HTMLInputElement).focus();
}

join.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(join);
  enter(String(data.get('name')).trim(), String(data.get('room')));
});

say.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = say.elements.namedItem('text') as HTMLInputElement;
  const text = input.value.trim();
  if (text === '' || client === null) return;
  // Sent at once when open, queued in order while the client (re)connects.
  client.send(text);
  input.value = '';
});

const name = params.get('name');
if (name !== null && name.trim() !== '') enter(name.trim(), params.get('room') ?? 'lobby');

// Say goodbye when the page goes away: over SSE or long polling the server would
// otherwise learn of it only when the session expires.
addEventListener('pagehide', () => client?.close(1000, 'left the page'));
