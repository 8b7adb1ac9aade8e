import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Server } from '../../src/server/server.js';
import type { Peer, SendResult } from '../../src/types.js';
import type { WebSocketPeer } from '../../src/server/peer.js';

/** A client that completes the handshake and then never reads: the server's buffer fills. */
function stalledClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.once('data', () => {
      socket.pause();
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

test('a streamed message over maxBufferedAmount is completed (buffered), and the next one is dropped', async () => {
  const server = new Server({ maxBufferedAmount: 256 * 1024 });
  let opened!: (peer: Peer) => void;
  const open = new Promise<Peer>((resolve) => (opened = resolve));
  server.route('*', { open: (peer) => opened(peer) });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await stalledClient(port);
  try {
    const peer = (await open) as WebSocketPeer;
    const fragment = Buffer.alloc(64 * 1024, 0x61);
    const results: SendResult[] = [];
    // Enough to fill the kernel's buffers on loopback and then the limit (bounded: 64 MiB).
    for (let i = 0; i < 1024 && peer.bufferedAmount <= 256 * 1024; i++) {
      results.push(peer.sendFragment(fragment, true, false));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(peer.bufferedAmount > 256 * 1024, 'the limit was reached');
    assert.ok(!results.includes('dropped'), 'no fragment of a started message is dropped');
    assert.equal(peer.sendFragment(fragment, true, false), 'buffered');
    assert.equal(peer.sendFragment(Buffer.alloc(0), true, true), 'buffered', 'the message is completed');
    assert.equal(peer.sendFragment(fragment, true, false), 'dropped', 'a new message is refused over the limit');
    assert.equal(peer.send('x'), 'dropped');
  } finally {
    client.destroy();
    await server.close({ timeout: 500 });
  }
});
