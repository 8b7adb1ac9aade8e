/**
 * The Node client's `ping(data)` and its `ping`/`pong` events (Node-only, as in ws): the
 * Pong to a server's Ping is automatic (RFC 6455 §5.5.2), the events only tell.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebSocket } from '../../src/client/websocket.js';
import type { Peer } from '../../src/types.js';
import { listening } from '../support/server.js';
import { withTimeout } from '../support/timing.js';
import { waitFor } from '../transports/helpers.js';

function nextEvent(ws: WebSocket, name: 'ping' | 'pong' | 'open' | 'close'): Promise<Event> {
  return withTimeout(new Promise<Event>((resolve) => ws.addEventListener(name, resolve, { once: true })), 2000, `client ${name}`);
}

function payload(event: Event): string {
  return data(event).toString();
}

/** Node's `MessageEvent` type is not generic: the payload is a Buffer. */
function data(event: Event): Buffer {
  return (event as unknown as { data: Buffer }).data;
}

describe('the Node client: ping(data), and the ping and pong events', { timeout: 10_000 }, () => {
  it('pings with a string or bytes, and the server\'s Pong fires `pong` with its data', async () => {
    const pinged: string[] = [];
    const { server, url } = await listening({}, (s) => s.route('/', { ping: (_p, data) => void pinged.push(data.toString()) }));
    const ws = new WebSocket(url);
    try {
      await nextEvent(ws, 'open');
      let pong = nextEvent(ws, 'pong');
      ws.ping('are you there');
      assert.equal(payload(await pong), 'are you there');
      pong = nextEvent(ws, 'pong');
      ws.ping(new Uint8Array([0x68, 0x69]));
      assert.equal(payload(await pong), 'hi');
      await waitFor(() => pinged.length === 2, 'the server\'s ping hook');
      assert.deepEqual(pinged, ['are you there', 'hi']);
    } finally {
      ws.close();
      await server.close({ timeout: 100 });
    }
  });

  it('fires `ping` when the server pings, after answering it', async () => {
    let peer: Peer | null = null;
    const pongs: string[] = [];
    const { server, url } = await listening({}, (s) =>
      s.route('/', { open: (p) => void (peer = p), pong: (_p, data) => void pongs.push(data.toString()) }),
    );
    const ws = new WebSocket(url);
    try {
      await nextEvent(ws, 'open');
      await waitFor(() => peer !== null, 'open on the server');
      const ping = nextEvent(ws, 'ping');
      peer!.ping('knock');
      assert.equal(payload(await ping), 'knock');
      await waitFor(() => pongs.length === 1, 'the automatic Pong');
      assert.deepEqual(pongs, ['knock']);
    } finally {
      ws.close();
      await server.close({ timeout: 100 });
    }
  });

  it('refuses a Ping over 125 bytes (RFC 6455 §5.5) and one when not open', async () => {
    const { server, url } = await listening({}, (s) => s.route('/', {}));
    const ws = new WebSocket(url);
    try {
      assert.throws(() => ws.ping('early'), { name: 'InvalidStateError' });
      await nextEvent(ws, 'open');
      assert.throws(() => ws.ping(Buffer.alloc(126)), { code: 'HL_ERR_INVALID_ARGUMENT', message: /126 bytes.*125/ });
      assert.throws(() => ws.ping(42 as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
      const pong = nextEvent(ws, 'pong');
      ws.ping(Buffer.alloc(125, 1));
      assert.equal(data(await pong).length, 125, 'the limit itself is allowed');
    } finally {
      ws.close();
      await server.close({ timeout: 100 });
    }
  });
});
