import type { Server } from 'hotline';
import { type Handler, type Peer, UpgradeRejection } from 'hotline';
import { isSameOrigin } from './same-origin.js';

/**
 * The duplex demo: a chat room on its own route. A visitor's message goes up over the
 * transport they picked and comes down to everyone (the sender too, so the page can show
 * the round trip), over whatever transport each of them picked.
 *
 * Up:   {"name": "ada", "text": "hello", "id": "client-chosen id"}
 * Down: {"type": "message", "name", "text", "id", "transport", "at"} or
 *       {"type": "history", "messages": [...]} once, on open.
 */

export const CHAT_TOPIC = 'lab/chat';
const HISTORY = 30;
const MAX_NAME = 24;
const MAX_TEXT = 280;
/** Messages a peer may send per second (a token bucket refilled once a second). */
const BURST = 5;

export interface ChatLine {
  type: 'message';
  name: string;
  text: string;
  id: string;
  transport: string;
  at: number;
}

interface ChatData {
  tokens: number;
  refilledAt: number;
}

export interface Chat {
  readonly handler: Handler<ChatData>;
  readonly peers: number;
  readonly messages: number;
  reset(): void;
}

export function createChat(server: Server, onMessage?: () => void): Chat {
  const history: ChatLine[] = [];
  let peers = 0;
  let messages = 0;
  const handler: Handler<ChatData> = {
    upgrade(request) {
      // Another site's page must not read the room nor post to it as the visitor.
      if (!isSameOrigin(request.headers)) throw new UpgradeRejection(403, 'cross-origin request refused');
      return { data: { tokens: BURST, refilledAt: Date.now() } };
    },
    open(peer: Peer<ChatData>) {
      peers++;
      peer.subscribe(CHAT_TOPIC);
      peer.send(JSON.stringify({ type: 'history', messages: history }));
    },
    message(peer: Peer<ChatData>, data: Buffer, isBinary: boolean) {
      if (isBinary || data.length > 1024) return;
      const now = Date.now();
      if (now - peer.data.refilledAt >= 1000) {
        peer.data.tokens = BURST;
        peer.data.refilledAt = now;
      }
      if (peer.data.tokens <= 0) return;
      peer.data.tokens--;
      let body: { name?: unknown; text?: unknown; id?: unknown };
      try {
        body = JSON.parse(data.toString('utf8')) as typeof body;
      } catch {
        return;
      }
      if (typeof body !== 'object' || body === null) return;
      const text = typeof body.text === 'string' ? clean(body.text).slice(0, MAX_TEXT) : '';
      if (text === '') return;
      const line: ChatLine = {
        type: 'message',
        name: (typeof body.name === 'string' ? clean(body.name).slice(0, MAX_NAME) : '') || 'anonymous',
        text,
        id: typeof body.id === 'string' ? body.id.slice(0, 40) : '',
        transport: peer.transport,
        at: now,
      };
      history.push(line);
      if (history.length > HISTORY) history.shift();
      messages++;
      onMessage?.();
      server.publish(CHAT_TOPIC, JSON.stringify(line));
    },
    close() {
      peers--;
    },
  };
  return {
    handler,
    get peers() {
      return peers;
    },
    get messages() {
      return messages;
    },
    reset() {
      messages = 0;
    },
  };
}

/** Control characters out (the page shows text as text, but a log or a terminal might not). */
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
}
