/**
 * What an idle WebSocket connection costs the server, on the heap, beyond the upgraded
 * TCP socket that any WebSocket server holds: the peer, its protocol core and parser,
 * its place in the sweep. The benchmark measures the whole process (bench/, idle-memory);
 * this guards the part that is Hotline's own, in the test process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { Server } from '../../src/server/server.js';
import { gc } from '../support/memory.js';
import { upgradeRequest } from '../support/raw.js';
import { listening } from '../support/server.js';
import { delay } from '../support/timing.js';

const CONNECTIONS = 500;
const ROUNDS = 3;
/**
 * Between 250 and 600 B today (the peer, its protocol core and frame parser, its entry in
 * the sweep), as measured here: the figure moves by a few hundred bytes between rounds in
 * a busy process, so the limit only catches what is large, such as the upgrade request
 * kept by every peer (about 1,100 B more). The benchmark measures the rest.
 */
const LIMIT = 1024;

/** Opens `count` raw connections that complete the opening handshake, then stay silent. */
async function openIdle(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const request = upgradeRequest('/', 'dGhlIHNhbXBsZSBub25jZQ==');
  for (let opened = 0; opened < count; opened += 50) {
    const batch = Array.from({ length: Math.min(50, count - opened) }, () => {
      return new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
        socket.once('data', (head: Buffer) => {
          if (head.toString('latin1').startsWith('HTTP/1.1 101')) resolve(socket);
          else reject(new Error(`no 101: ${head.toString('latin1').split('\r\n')[0]}`));
        });
        socket.once('error', reject);
      });
    });
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Heap bytes per idle connection to `port`, both ends included (they are in this process). */
async function perConnection(port: number): Promise<number> {
  for (const socket of await openIdle(port, 50)) socket.destroy(); // code compiled on first use
  await delay(50);
  const before = heapUsed();
  const sockets = await openIdle(port, CONNECTIONS);
  await delay(50);
  const used = heapUsed() - before;
  for (const socket of sockets) socket.destroy();
  await delay(100);
  return used / CONNECTIONS;
}

const held = new Set<net.Socket>();

function ignore(): void {}

function release(this: net.Socket): void {
  held.delete(this);
}

describe('memory of an idle connection', { timeout: 60_000 }, () => {
  let server: Server;
  let port: number;
  /** The reference: answers 101 and holds the socket, as the least a WebSocket server does. */
  const holder = http.createServer();

  before(async () => {
    ({ server, port } = await listening({}, (s) => s.route('*', {})));
    holder.on('upgrade', (_request: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      held.add(socket);
      // Shared listeners, no closure per socket: the reference must be lean.
      socket.on('error', ignore);
      socket.on('close', release);
    });
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    await server.close({ timeout: 200 });
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => holder.close(resolve));
  });

  it(`costs the server under ${LIMIT} B of heap per idle peer beyond its upgraded socket (no request or buffer kept)`, async () => {
    const holderPort = (holder.address() as net.AddressInfo).port;
    const extra: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const reference = await perConnection(holderPort);
      extra.push((await perConnection(port)) - reference);
    }
    extra.sort((a, b) => a - b);
    const median = extra[Math.floor(ROUNDS / 2)]!;
    assert.ok(median < LIMIT, `${Math.round(median)} B per idle peer (rounds: ${extra.map(Math.round).join(', ')})`);
  });
});
