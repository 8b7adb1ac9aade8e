/**
 * A chat with rooms. One route, `/chat?room=NAME&name=WHO`, served over WebSocket and,
 * for networks that block it, over SSE and long polling (`enableHttpTransports`): the
 * handler below is the same for all of them. Each room is a pub/sub topic, so a line is
 * encoded once and shared by everyone in the room.
 *
 * The page (public/) connects with `hotline/client`, which falls back on its own.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, UpgradeRejection, enableHttpTransports, type Peer, type UpgradeRequest } from 'hotline';

/** What the upgrade hook attaches to a peer (`peer.data`). */
export interface Member {
  readonly name: string;
  readonly room: string;
}

/** Every message the server sends is one of these, as JSON text. */
export type ChatEvent =
  | { type: 'welcome'; room: string; name: string; members: string[] }
  | { type: 'joined'; name: string; members: string[] }
  | { type: 'left'; name: string; members: string[] }
  | { type: 'message'; name: string; text: string; at: number }
  | { type: 'error'; error: string };

/** Lowercase letters, digits and dashes: a room name is also a topic and a URL. */
export const ROOM_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Printable characters only (no control or format characters that would garble a line). */
export const NAME_PATTERN = /^[^\p{C}]{1,24}$/u;
export const MAX_TEXT = 2000;
/** The longest line (MAX_TEXT characters of up to 4 UTF-8 bytes) fits; anything larger
 *  is closed by the server with 1009 before it is buffered whole. */
const MAX_PAYLOAD = 4 * MAX_TEXT + 256;

export interface ChatServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export async function start(port = 0, host = '127.0.0.1'): Promise<ChatServer> {
  const server = new Server({ maxPayload: MAX_PAYLOAD });
  /** Who is in each room, for the member lists. */
  const rooms = new Map<string, Set<Peer<Member>>>();
  const membersOf = (room: string) => [...(rooms.get(room) ?? [])].map((peer) => peer.data.name);
  const broadcast = (room: string, event: ChatEvent) => server.publish(`room:${room}`, JSON.stringify(event));

  server.route<Member>('/chat', {
    upgrade(request) {
      checkOrigin(request);
      const room = request.query.get('room') ?? 'lobby';
      const name = (request.query.get('name') ?? '').trim();
      if (!ROOM_PATTERN.test(room)) throw new UpgradeRejection(400, 'room: 1-32 lowercase letters, digits or dashes');
      if (!NAME_PATTERN.test(name)) throw new UpgradeRejection(400, 'name: 1-24 printable characters');
      return { data: { room, name } };
    },
    open(peer) {
      const { room, name } = peer.data;
      let members = rooms.get(room);
      if (members === undefined) rooms.set(room, (members = new Set()));
      members.add(peer);
      peer.subscribe(`room:${room}`);
      send(peer, { type: 'welcome', room, name, members: membersOf(room) });
      // Everyone else in the room (peer.publish skips the sender).
      peer.publish(`room:${room}`, JSON.stringify({ type: 'joined', name, members: membersOf(room) } satisfies ChatEvent));
    },
    message(peer, data, isBinary) {
      // RFC 6455 §7.4.1: 1003, "received a type of data it cannot accept".
      if (isBinary) return peer.close(1003, 'text only');
      const text = data.toString().trim();
      if (text === '') return send(peer, { type: 'error', error: 'empty message' });
      if (text.length > MAX_TEXT) return send(peer, { type: 'error', error: `message over ${MAX_TEXT} characters` });
      broadcast(peer.data.room, { type: 'message', name: peer.data.name, text, at: Date.now() });
    },
    close(peer) {
      const { room, name } = peer.data;
      const members = rooms.get(room);
      // A peer refused before `open` never joined.
      if (members === undefined || !members.delete(peer)) return;
      if (members.size === 0) rooms.delete(room);
      else broadcast(room, { type: 'left', name, members: membersOf(room) });
    },
  });
  // SSE first, then long polling: the page's fallback order when WebSocket is blocked.
  enableHttpTransports(server, { transports: ['sse', 'long-polling'] });

  const address = await server.listen(port, host, staticFiles(new URL('./public/', import.meta.url)));
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    server,
    close: () => server.close({ timeout: 1000 }),
  };
}

function send(peer: Peer<Member>, event: ChatEvent): void {
  peer.send(JSON.stringify(event));
}

/**
 * A page on another origin may open a WebSocket to this server (browsers do not apply
 * the same-origin policy to it, RFC 6455 §10.2): only pages served from here may join.
 * Clients that are not browsers send no Origin and are let through.
 */
function checkOrigin(request: UpgradeRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new UpgradeRejection(403, 'origin not allowed');
  }
  if (host !== request.headers.host) throw new UpgradeRejection(403, 'origin not allowed');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** The page, its script and its style, read once at start. */
function staticFiles(root: URL): (request: IncomingMessage, response: ServerResponse) => void {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, file] of [['/', 'index.html'], ['/app.js', 'app.js'], ['/app.js.map', 'app.js.map'], ['/style.css', 'style.css']] as const) {
    files.set(path, { body: readFileSync(new URL(file, root)), type: TYPES[file.slice(file.lastIndexOf('.'))]! });
  }
  return (request, response) => {
    const file = files.get(new URL(request.url ?? '/', 'http://localhost').pathname);
    if (file === undefined) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    } else if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
    } else {
      response.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, 'Cache-Control': 'no-cache' });
      response.end(request.method === 'HEAD' ? undefined : file.body);
    }
  };
}
