/**
 * Hostile HTTP clients for the transports: requests over a socket of our own that stops
 * reading when told to (so the server's writes pile up), and a view of the server's side
 * of every connection (how much it holds for each, and whether it let go).
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { decodeBatch } from '../../src/protocol/session/wire.js';
import type { TestServer } from './helpers.js';

export interface RawHttp {
  readonly socket: Socket;
  /** Our local port (kept: a destroyed socket forgets it). */
  readonly port: number;
  /** Everything read so far (until `stopReading`). */
  readonly received: () => Buffer;
  /** Stops reading: the kernel buffers fill, then the server's. */
  stopReading(): void;
  destroy(): void;
}

export function rawConnect(port: number): Promise<RawHttp> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        port: socket.localPort!,
        received: () => Buffer.concat(chunks),
        stopReading() {
          socket.off('data', onData);
          socket.pause();
        },
        destroy() {
          socket.destroy();
        },
      });
    });
    socket.once('error', reject);
  });
}

/** Waits until what the socket received contains `pattern`: checked on each chunk as it arrives. */
export function readUntil(raw: RawHttp, pattern: string | RegExp, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const text = () => raw.received().toString('latin1');
    const found = (t: string) => (typeof pattern === 'string' ? t.includes(pattern) : pattern.test(t));
    const done = () => {
      clearTimeout(timer);
      raw.socket.off('data', check);
    };
    // Added after the socket's own collector, so `received()` holds the chunk already.
    const check = () => {
      const t = text();
      if (!found(t)) return;
      done();
      resolve(t);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${String(pattern)} within ${ms} ms: ${JSON.stringify(text().slice(0, 300))}`));
    }, ms);
    raw.socket.on('data', check);
    check();
  });
}

export function get(raw: RawHttp, path: string, headers: Record<string, string> = {}): void {
  let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  raw.socket.write(head + '\r\n');
}

/** Opens an SSE session on `path` and returns its id, leaving the stream open. */
export async function openSseSession(raw: RawHttp, path: string): Promise<string> {
  get(raw, `${path}?transport=sse`, { Accept: 'text/event-stream' });
  const text = await readUntil(raw, /event: session\ndata: [^\n]*\n\n/);
  return JSON.parse(/event: session\ndata: ([^\n]*)\n/.exec(text)![1]!).sid;
}

/** Opens a polling session by fetch; returns its id. */
export async function openPollingSession(ts: TestServer, path: string, transport = 'polling'): Promise<string> {
  const answer = await fetch(ts.url(`${path}?transport=${transport}`));
  const batch = decodeBatch(new Uint8Array(await answer.arrayBuffer()), { allowOpen: true });
  return (batch.packets[0] as { handshake: { sid: string } }).handshake.sid;
}

const clientPorts = new WeakMap<Socket, number>();

/** The server's side of every connection made to it from now on. */
export function serverSockets(ts: TestServer): Socket[] {
  const sockets: Socket[] = [];
  ts.server.httpServer!.on('connection', (socket: Socket) => {
    clientPorts.set(socket, socket.remotePort!);
    sockets.push(socket);
  });
  return sockets;
}

/** The server's side of the connection whose client side is `raw` (remembered: a destroyed socket forgets its port). */
export function serverSide(sockets: readonly Socket[], raw: RawHttp): Socket | undefined {
  return sockets.find((socket) => clientPorts.get(socket) === raw.port);
}

/** Bytes the server holds for its clients in user space, over the given sockets. */
export function heldBytes(sockets: readonly Socket[]): number {
  let total = 0;
  for (const socket of sockets) if (!socket.destroyed) total += socket.writableLength;
  return total;
}
