import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { WebSocket } from '../../src/client/websocket.js';
import type { Peer } from '../../src/types.js';
import { HTTP_ONLY, type TestServer, closed, next, open, recorder, sleep, startServer, waitFor } from './helpers.js';

/** Moving a live HTTP session onto a WebSocket, with messages flowing both ways meanwhile. */

interface Log {
  peers: Peer[];
  opens: number;
  received: Map<Peer, string[]>;
  closes: Map<Peer, [number, string]>;
}

describe('upgrade from an HTTP transport to WebSocket', () => {
  let ts: TestServer;
  const log: Log = { peers: [], opens: 0, received: new Map(), closes: new Map() };

  before(async () => {
    ts = await startServer(() => ({
      '/u': {
        open(peer: Peer) {
          log.opens++;
          log.peers.push(peer);
          log.received.set(peer, []);
        },
        message(peer: Peer, data: Buffer, isBinary: boolean) {
          const text = isBinary ? 'hex:' + data.toString('hex') : data.toString();
          log.received.get(peer)!.push(text);
          if (text === 'close-me') peer.close(4005, 'after upgrade');
        },
        close(peer: Peer, code: number, reason: string) {
          log.closes.set(peer, [code, reason]);
        },
      },
    }));
  });
  after(() => ts.close());

  for (const transport of HTTP_ONLY) {
    it(`moves a ${transport} session onto a WebSocket while messages flow both ways: none lost, reordered or repeated`, async () => {
      let fetches = 0;
      const client = open(ts.url('/u'), transport, {
        upgrade: true,
        fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
          fetches++;
          return fetch(input, init);
        },
      });
      const rec = recorder(client);
      const transports: string[] = [];
      client.addEventListener('transport', (event) => transports.push((event as unknown as { transport: string }).transport));
      const upgraded = next(client, 'transport', 8000, (event: Event & { transport?: string }) => event.transport === 'websocket');
      await next(client, 'open');
      const peer = log.peers.at(-1)!;
      const opensBefore = log.opens;
      // Both sides send a numbered stream across the switch.
      let n = 0;
      const pump = setInterval(() => {
        for (let k = 0; k < 3; k++) {
          peer.send(`down-${n}`);
          client.send(k === 1 ? new Uint8Array([n & 255]) : `up-${n}`);
          n++;
        }
      }, 5);
      await upgraded;
      // Traffic goes on across the switch for a while: another 30 rounds each way.
      const atSwitch = n;
      await waitFor(() => n >= atSwitch + 90, 'more messages after the switch');
      clearInterval(pump);
      const total = n;
      assert.equal(peer.transport, 'websocket');
      assert.equal(client.transport, 'websocket');
      assert.deepEqual(transports, [transport, 'websocket']);
      assert.equal(log.opens, opensBefore, 'the upgrade is no new session');
      const got = await rec.until(total);
      assert.deepEqual(got, Array.from({ length: total }, (_, i) => `down-${i}`));
      await waitFor(() => log.received.get(peer)!.length >= total, 'every upstream message');
      const expectedUp = Array.from({ length: total }, (_, i) => (i % 3 === 1 ? 'hex:' + (i & 255).toString(16).padStart(2, '0') : `up-${i}`));
      assert.deepEqual(log.received.get(peer), expectedUp);
      // No HTTP request after the switch.
      const after = fetches;
      await sleep(200);
      assert.ok(fetches - after <= 1, `${fetches - after} HTTP requests after the upgrade`);
      client.close(4006, 'client done');
      await closed(client);
      await waitFor(() => log.closes.has(peer), 'the close hook');
      assert.equal(log.closes.get(peer)![0], 4006);
    });
  }

  it('closes an upgraded session from the server with its code and reason', async () => {
    const client = open(ts.url('/u'), 'long-polling', { upgrade: true });
    await next(client, 'transport', 5000, (event: Event & { transport?: string }) => event.transport === 'websocket');
    client.send('close-me');
    const event = await closed(client);
    assert.deepEqual([event.code, event.reason], [4005, 'after upgrade']);
  });

  it('stays on the HTTP transport when the WebSocket handshake is refused', async () => {
    // A server whose route refuses upgrades naming a session cannot exist here, so refuse
    // them on the client side: a WebSocket class that always fails.
    let refusals = 0;
    class Refused {
      binaryType = 'arraybuffer';
      readyState = 0;
      bufferedAmount = 0;
      onopen: (() => void) | null = null;
      onmessage: (() => void) | null = null;
      onerror: (() => void) | null = null;
      onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
      constructor() {
        setTimeout(() => {
          this.readyState = 3;
          this.onerror?.();
          this.onclose?.({ code: 1006, reason: '', wasClean: false });
          refusals++;
        }, 10);
      }
      send(): void {}
      close(): void {}
    }
    const client = open(ts.url('/u'), 'polling', { upgrade: true, WebSocket: Refused as never });
    const rec = recorder(client);
    await next(client, 'open');
    await waitFor(() => refusals > 0, 'the refused WebSocket');
    client.send('still here');
    const peer = log.peers.at(-1)!;
    peer.send('and here');
    assert.deepEqual(await rec.until(1), ['and here']);
    assert.equal(client.transport, 'polling');
    await waitFor(() => log.received.get(peer)!.length >= 1, 'the upstream message');
    assert.deepEqual(log.received.get(peer), ['still here']);
    client.close();
  });

  it('refuses a session upgrade for an unknown session with 400, and a first message other than probe with 1008', async () => {
    const unknown = new WebSocket(`ws://127.0.0.1:${ts.port}/u?transport=websocket&sid=nope`);
    const refusal = await new Promise<{ code: number }>((resolve) => (unknown.onclose = (event) => resolve(event as never)));
    assert.equal(refusal.code, 1006);

    const client = open(ts.url('/u'), 'long-polling');
    await next(client, 'open');
    const ws = new WebSocket(`ws://127.0.0.1:${ts.port}/u?transport=websocket&sid=${client.sid}`);
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send('hello?');
    const event = await new Promise<{ code: number }>((resolve) => (ws.onclose = (e) => resolve(e as never)));
    assert.equal(event.code, 1008);
    // The session itself is untouched.
    const rec = recorder(client);
    log.peers.at(-1)!.send('fine');
    assert.deepEqual(await rec.until(1), ['fine']);
    assert.equal(client.transport, 'long-polling');
    client.close();
  });

  it('refuses an upgrade naming a message the server never sent, or a number spelled another way, with 1008', async () => {
    const client = open(ts.url('/u'), 'long-polling');
    await next(client, 'open');
    for (const upgrade of ['upgrade 5', 'upgrade 00', `upgrade ${Number.MAX_SAFE_INTEGER + 1}`, 'upgraded 0']) {
      const ws = new WebSocket(`ws://127.0.0.1:${ts.port}/u?transport=websocket&sid=${client.sid}`);
      await new Promise((resolve) => (ws.onopen = resolve));
      ws.send('probe');
      const answer = await new Promise<{ data: unknown }>((resolve) => (ws.onmessage = resolve as never));
      assert.equal(String(answer.data), 'probe');
      ws.send(upgrade);
      const event = await new Promise<{ code: number }>((resolve) => (ws.onclose = (e) => resolve(e as never)));
      assert.equal(event.code, 1008, upgrade);
    }
    // The session is untouched and still on HTTP.
    const rec = recorder(client);
    log.peers.at(-1)!.send('still fine');
    assert.deepEqual(await rec.until(1), ['still fine']);
    assert.equal(client.transport, 'long-polling');
    client.close();
  });
});
