/**
 * A raw TCP server for client tests: it reads the opening handshake and lets the test
 * answer with any bytes at all — a correct 101, a wrong accept value, a subprotocol that
 * was never offered, frames in the same write as the 101, or silence.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { frame, type RawFrame } from './bytes.js';
import { RawPeer, acceptFor } from './raw.js';

export interface RawHandshake {
  path: string;
  key: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The server side of the connection; reads what the client sends after the request. */
  peer: RawPeer;
}

/** A server frame: unmasked unless the spec gives a mask. */
export function serverFrame(spec: RawFrame): Buffer {
  return frame({ mask: null, ...spec });
}

/** A valid 101 for `key`, with extra header lines. */
export function switching(key: string, extra: Record<string, string> = {}): string {
  let text = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' + `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n`;
  for (const [name, value] of Object.entries(extra)) text += `${name}: ${value}\r\n`;
  return text + '\r\n';
}

export class RawServer {
  readonly server: net.Server;
  private readonly peers = new Set<RawPeer>();

  private constructor(server: net.Server) {
    this.server = server;
  }

  /** Listens on 127.0.0.1:0; `onHandshake` runs once the request head has arrived. */
  static async start(onHandshake: (handshake: RawHandshake) => void): Promise<RawServer> {
    let self: RawServer | null = null;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const peer = new RawPeer(socket);
      self!.peers.add(peer);
      socket.once('close', () => self!.peers.delete(peer));
      void readRequest(peer).then(onHandshake, () => socket.destroy());
    });
    self = new RawServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function readRequest(peer: RawPeer): Promise<RawHandshake> {
  // RawPeer parses response heads; a request head differs only in its first line.
  const raw = await readRequestHead(peer);
  const lines = raw.split('\r\n');
  const path = (lines[0] ?? '').split(' ')[1] ?? '/';
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { path, key: headers['sec-websocket-key'] ?? '', headers, peer };
}

async function readRequestHead(peer: RawPeer): Promise<string> {
  let text = '';
  for (;;) {
    text += (await peer.readBytes(1, 5000)).toString('latin1');
    if (text.endsWith('\r\n\r\n')) return text;
  }
}
