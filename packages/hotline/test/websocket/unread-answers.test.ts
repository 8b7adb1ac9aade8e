/**
 * The automatic answers a peer asks for — a Pong for every Ping (RFC 6455 §5.5.2) — count
 * against `maxBufferedAmount` like everything else we send. A peer that pings without
 * reading is failed with 1008 once its pongs pass the limit, instead of growing our
 * memory without bound; the server and the Node client alike. Memory stays proportional
 * to the bytes queued: the pongs of one read leave in one write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import { WebSocket } from '../../src/client/websocket.js';
import type { ErrorEvent } from '../../src/client/events.js';
import type { Peer } from '../../src/types.js';
import { RawPeer, clientFrame } from '../support/raw.js';
import { RawServer, serverFrame, switching } from '../support/raw-server.js';
import { closed } from '../support/client.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { withTimeout } from '../support/timing.js';

const PING = 0x9;
const PONG = 0xa;
const CLOSE = 0x8;
const KiB = 1024;
const LIMIT = 256 * KiB;

/** Writes `batch` until `done()` or `max` bytes, letting the event loop turn between writes. */
async function flood(write: (bytes: Buffer) => void, batch: Buffer, done: () => boolean, max: number): Promise<number> {
  let sent = 0;
  while (!done() && sent < max) {
    write(batch);
    sent += batch.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}

describe('a server peer that pings without reading', { timeout: 60_000 }, () => {
  let server: Server;
  let port: number;
  let good: WsClient;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({ maxBufferedAmount: LIMIT }, (s) => s.route('*', recorder.echo()));
    server = started.server;
    port = started.port;
    good = await wsClient(`${started.url}/good`);
    await recorder.nextPeer();
  });

  after(async () => {
    await closeWs(good);
    await server.close({ timeout: 300 });
  });

  // 125-byte pings fill loopback's buffers fastest (empty ones take three times the bytes,
  // and as many seconds); the limit is the same for both.
  for (const [what, payload] of [['125-byte pings', Buffer.alloc(125, 0x70)]] as const) {
    it(`closes a peer that sends ${what} without reading with 1008 once its pongs pass maxBufferedAmount`, async () => {
      const raw = await RawPeer.open(port, '/pinger');
      const peer: Peer<any> = await recorder.nextPeer();
      // Stop reading: the kernel's buffers fill, then the server's socket buffers.
      raw.socket.pause();
      const ping = clientFrame({ opcode: PING, payload });
      const batch = Buffer.concat(Array.from({ length: Math.ceil((64 * KiB) / ping.length) }, () => ping));
      let largest = 0;
      const shell = peer as unknown as WebSocketPeer;
      await flood(
        (bytes) => {
          raw.write(bytes);
          largest = Math.max(largest, shell.bufferedAmount);
        },
        batch,
        () => recorder.of('error', peer).length > 0 || raw.closed,
        // Far more than loopback's buffers hold: without the limit, this goes on forever.
        400 * 1024 * 1024,
      );
      const error = await recorder.wait('error', peer, 20_000);
      assert.equal(error.error.code, 'HL_ERR_UNREAD_ANSWERS');
      assert.equal(error.error.closeCode, 1008);
      // Bounded by the limit plus the pongs of one read, never by the number of pings.
      assert.ok(largest < LIMIT + 256 * KiB, `buffered ${largest} bytes`);
      await assertEchoes(good);

      // Reading again: the pongs queued before the failure, then the Close with 1008.
      raw.socket.resume();
      let close: { code: number; reason: string } | null = null;
      for (;;) {
        const frame = await raw.readFrame(10_000);
        if (frame.opcode === CLOSE) {
          close = { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString() };
          break;
        }
        assert.equal(frame.opcode, PONG);
      }
      assert.equal(close.code, 1008);
      await recorder.wait('close', peer, 5000);
      raw.destroy();
    });
  }

  it('answers a peer that pings and reads, however many pings it sends', async () => {
    const raw = await RawPeer.open(port, '/reader');
    const peer = await recorder.nextPeer();
    const ping = clientFrame({ opcode: PING, payload: Buffer.alloc(125) });
    const count = Math.ceil((4 * LIMIT) / ping.length);
    raw.write(Buffer.concat(Array.from({ length: count }, () => ping)));
    for (let i = 0; i < count; i++) assert.equal((await raw.readFrame(5000)).opcode, PONG);
    assert.equal(recorder.of('error', peer).length, 0);
    raw.destroy();
    await recorder.wait('close', peer);
  });
});

describe('the Node client against a server that pings without reading', { timeout: 60_000 }, () => {
  it('fails with 1008 (HL_ERR_UNREAD_ANSWERS) once its pongs pass its maxBufferedAmount', async () => {
    let stopFlood = false;
    const server = await RawServer.start(async ({ peer, key }) => {
      peer.write(switching(key));
      // The server stops reading and keeps pinging.
      peer.socket.pause();
      const ping = serverFrame({ opcode: PING, payload: Buffer.alloc(125, 0x71) });
      const batch = Buffer.concat(Array.from({ length: 512 }, () => ping));
      await flood((bytes) => peer.write(bytes), batch, () => stopFlood || peer.closed, 400 * 1024 * 1024);
    });
    try {
      const ws = new WebSocket(`${server.url}/`, [], { maxBufferedAmount: LIMIT });
      let largest = 0;
      const errors: ErrorEvent[] = [];
      ws.addEventListener('error', (event) => errors.push(event as unknown as ErrorEvent));
      const timer = setInterval(() => (largest = Math.max(largest, ws.bufferedAmount)), 1);
      const close = await closed(ws, 30_000);
      clearInterval(timer);
      stopFlood = true;
      assert.equal(errors.length, 1);
      const error = errors[0]!.error as { code?: string; closeCode?: number };
      assert.equal(error.code, 'HL_ERR_UNREAD_ANSWERS');
      assert.equal(error.closeCode, 1008);
      assert.equal(close.wasClean, false);
      assert.ok(largest < LIMIT + 256 * KiB, `buffered ${largest} bytes`);
    } finally {
      stopFlood = true;
      await server.close();
    }
  });

  it('refuses a maxBufferedAmount that is not a positive number', () => {
    for (const value of [0, -1, Number.NaN, '1' as unknown as number]) {
      assert.throws(() => new WebSocket('ws://127.0.0.1:1/', [], { maxBufferedAmount: value }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    }
  });

  it('never refuses its own sends, however much is buffered (WHATWG)', async () => {
    const server = await RawServer.start(({ peer, key }) => {
      peer.write(switching(key));
      peer.socket.pause();
    });
    try {
      const ws = new WebSocket(`${server.url}/`, [], { maxBufferedAmount: 64 * KiB });
      await withTimeout(new Promise((resolve) => ws.addEventListener('open', resolve, { once: true })), 2000, 'open');
      const chunk = Buffer.alloc(256 * KiB);
      for (let i = 0; i < 40; i++) ws.send(chunk);
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.ok(ws.bufferedAmount > 64 * KiB);
      ws.terminate();
      await closed(ws);
    } finally {
      await server.close();
    }
  });
});
