/**
 * Interop with the `ws` package, an independent implementation, both ways: a Hotline
 * server with `ws` clients, and a `ws` server with Hotline's WHATWG client. Text, binary,
 * empty and 1 MiB messages, fragmented messages, Ping/Pong, close codes and reasons in
 * both directions, subprotocol selection.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient, WebSocketServer } from 'ws';
import { WebSocket } from '../../src/client/websocket.js';
import type { Server } from '../../src/server/server.js';
import type { Peer } from '../../src/types.js';
import { closed, nextMessage, openClient } from '../support/client.js';
import { Recorder, listening, wsClient } from '../support/server.js';
import { deferred, eventually, withTimeout } from '../support/timing.js';
import { onControlFrames } from '../support/control-frames.js';

const MiB = 1024 * 1024;

/** Deterministic bytes, so a corrupted byte anywhere shows. */
function pattern(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + (i >>> 11)) & 0xff;
  return out;
}

function wsMessage(ws: WsClient, ms = 3000): Promise<{ data: Buffer; isBinary: boolean }> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }))), ms, 'a ws message');
}

function wsClosed(ws: WsClient, ms = 3000): Promise<{ code: number; reason: string }> {
  return withTimeout(new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))), ms, 'ws to close');
}

/** Peer methods the Peer interface does not expose (server-side Ping, fragments). */
interface PeerShell {
  ping(data?: Buffer): void;
  sendFragment(data: string | Buffer, isBinary: boolean, fin: boolean): string;
}
const shell = (peer: Peer<any>) => peer as unknown as PeerShell;

describe('Hotline server ↔ ws client', { timeout: 20_000 }, () => {
  let server: Server;
  let url: string;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({}, (s) => {
      s.route('/echo', recorder.echo());
      s.route('/protocol', {
        upgrade: (request) => (request.protocols.includes('v2') ? { protocol: 'v2' } : {}),
        open: (peer) => void peer.send(`selected:${peer.protocol}`),
      });
    });
    server = started.server;
    url = started.url;
  });
  after(() => server.close({ timeout: 300 }));

  it('echoes text, binary, empty and 1 MiB messages intact', async () => {
    const ws = await wsClient(`${url}/echo`);
    const cases: Array<[Buffer | string, boolean]> = [
      ['hello, ws', false],
      ['ünïcødé ✓ 😀', false],
      [pattern(256), true],
      ['', false],
      [Buffer.alloc(0), true],
      [pattern(MiB), true],
      ['x'.repeat(MiB), false],
    ];
    for (const [data, binary] of cases) {
      const reply = wsMessage(ws);
      ws.send(data, { binary });
      const got = await reply;
      assert.equal(got.isBinary, binary);
      assert.ok(got.data.equals(Buffer.from(data)), `${binary ? 'binary' : 'text'} of ${Buffer.byteLength(data)} bytes`);
    }
    ws.close(1000);
    await wsClosed(ws);
  });

  it('reassembles a message ws sends in fragments, and ws reassembles one Hotline streams', async () => {
    recorder.skipOpened();
    const ws = await wsClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    const reply = wsMessage(ws);
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    const got = await reply;
    assert.deepEqual([got.data.toString(), got.isBinary], ['fragmented', false]);
    const streamed = wsMessage(ws);
    shell(peer).sendFragment(pattern(100_000), true, false);
    shell(peer).sendFragment(Buffer.alloc(0), true, false);
    shell(peer).sendFragment(pattern(5), true, true);
    const whole = await streamed;
    assert.equal(whole.isBinary, true);
    assert.ok(whole.data.equals(Buffer.concat([pattern(100_000), pattern(5)])));
    ws.close(1000);
    await wsClosed(ws);
  });

  it('exchanges Pings and Pongs with their payloads both ways', async () => {
    recorder.skipOpened();
    const ws = await wsClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    const pong = withTimeout(new Promise<Buffer>((resolve) => ws.once('pong', resolve)), 2000, 'a pong from Hotline');
    ws.ping(Buffer.from('from ws'));
    assert.equal((await pong).toString(), 'from ws');
    const ping = withTimeout(new Promise<Buffer>((resolve) => ws.once('ping', resolve)), 2000, 'a ping from Hotline');
    const serverPong = deferred<Buffer>();
    onControlFrames(peer, { pong: (data) => serverPong.resolve(data) });
    shell(peer).ping(Buffer.from('from hotline'));
    assert.equal((await ping).toString(), 'from hotline');
    assert.equal((await withTimeout(serverPong.promise, 2000, 'ws to answer the ping')).toString(), 'from hotline');
    ws.close(1000);
    await wsClosed(ws);
  });

  for (const [code, reason] of [
    [1000, ''],
    [1000, 'normal'],
    [1001, 'going away'],
    [4000, 'app-defined ✓'],
    [3999, 'r'.repeat(123)],
  ] as const) {
    it(`carries close code ${code} and a ${reason.length}-byte reason from ws to Hotline and back`, async () => {
      recorder.skipOpened();
      const ws = await wsClient(`${url}/echo`);
      const peer = await recorder.nextPeer();
      const clientSide = wsClosed(ws);
      ws.close(code, reason);
      const serverSide = await recorder.wait('close', peer);
      assert.deepEqual([serverSide.code, serverSide.reason], [code, reason]);
      assert.equal((await clientSide).code, code, 'the echo carries the code');
    });

    it(`carries close code ${code} and a ${reason.length}-byte reason from Hotline to ws`, async () => {
      recorder.skipOpened();
      const ws = await wsClient(`${url}/echo`);
      const peer = await recorder.nextPeer();
      const clientSide = wsClosed(ws);
      peer.close(code, reason);
      assert.deepEqual(await clientSide, { code, reason });
      assert.equal((await recorder.wait('close', peer)).code, code);
    });
  }

  it('reports 1005 when ws closes without a code', async () => {
    recorder.skipOpened();
    const ws = await wsClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    ws.close();
    assert.equal((await recorder.wait('close', peer)).code, 1005);
    assert.equal((await wsClosed(ws)).code, 1005);
  });

  it('selects a subprotocol ws offered, or none', async () => {
    const offered = new WsClient(`${url}/protocol`, ['v1', 'v2']);
    const selected = await wsMessage(offered);
    assert.equal(selected.data.toString(), 'selected:v2');
    assert.equal(offered.protocol, 'v2');
    offered.close();
    const none = new WsClient(`${url}/protocol`);
    assert.equal((await wsMessage(none)).data.toString(), 'selected:');
    assert.equal(none.protocol, '');
    none.close();
    await Promise.all([wsClosed(offered), wsClosed(none)]);
  });
});

describe('ws server ↔ Hotline client', { timeout: 20_000 }, () => {
  let wss: WebSocketServer;
  let url: string;
  const serverCloses: Array<{ code: number; reason: string }> = [];
  const serverPings: Buffer[] = [];

  before(async () => {
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: 2 * MiB,
      handleProtocols: (protocols) => (protocols.has('v2') ? 'v2' : false),
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    wss.on('connection', (socket, request) => {
      socket.on('close', (code: number, reason: Buffer) => serverCloses.push({ code, reason: reason.toString() }));
      socket.on('ping', (data: Buffer) => serverPings.push(data));
      // ws reports a peer over its maxPayload as an error event as well as with 1009.
      socket.on('error', () => {});
      const path = request.url ?? '/';
      if (path === '/echo') socket.on('message', (data: Buffer, isBinary: boolean) => socket.send(data, { binary: isBinary }));
      else if (path === '/fragments') {
        socket.send('frag', { fin: false });
        socket.send('men', { fin: false });
        socket.send('ted', { fin: true });
        socket.send(pattern(70_000), { binary: true, fin: false });
        socket.send(pattern(3), { binary: true, fin: true });
      } else if (path === '/ping') {
        socket.ping(Buffer.from('from ws server'));
        socket.on('pong', (data: Buffer) => socket.send(`pong:${data.toString()}`));
      } else if (path.startsWith('/close/')) {
        const [, , code, reason] = path.split('/');
        socket.close(Number(code), decodeURIComponent(reason ?? ''));
      } else if (path === '/protocol') socket.send(`selected:${socket.protocol}`);
    });
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it('echoes text, binary, empty and 1 MiB messages intact', async () => {
    const ws = await openClient(`${url}/echo`);
    ws.binaryType = 'nodebuffer';
    const cases: Array<[Buffer | string, boolean]> = [
      ['hello, hotline', false],
      ['ünïcødé ✓ 😀', false],
      [pattern(300), true],
      ['', false],
      [Buffer.alloc(0), true],
      [pattern(MiB), true],
      ['y'.repeat(MiB), false],
    ];
    for (const [data, binary] of cases) {
      const reply = nextMessage(ws, 3000);
      ws.send(binary ? new Uint8Array(data as Buffer) : (data as string));
      const got = await reply;
      if (binary) {
        assert.ok(Buffer.isBuffer(got));
        assert.ok((got as Buffer).equals(data as Buffer), `binary of ${(data as Buffer).length} bytes`);
      } else {
        assert.equal(got, data);
      }
    }
    ws.close(1000);
    await closed(ws);
  });

  it('reassembles messages the ws server sends in fragments', async () => {
    const ws = new WebSocket(`${url}/fragments`);
    ws.binaryType = 'nodebuffer';
    const got: unknown[] = [];
    const done = deferred();
    ws.addEventListener('message', (event) => {
      got.push((event as MessageEvent).data);
      if (got.length === 2) done.resolve();
    });
    await withTimeout(done.promise, 2000, 'both messages');
    assert.equal(got[0], 'fragmented');
    assert.ok((got[1] as Buffer).equals(Buffer.concat([pattern(70_000), pattern(3)])));
    ws.close();
    await closed(ws);
  });

  it('answers the ws server\'s Ping automatically and sends its own with ping()', async () => {
    const ws = new WebSocket(`${url}/ping`);
    assert.equal(await nextMessage(ws), 'pong:from ws server');
    serverPings.length = 0;
    ws.ping(Buffer.from('from hotline'));
    ws.send('flush');
    await withTimeout(
      (async () => {
        while (serverPings.length === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      'the ws server to see the ping',
    );
    assert.equal(serverPings[0]!.toString(), 'from hotline');
    ws.close();
    await closed(ws);
  });

  for (const [code, reason] of [
    [1000, 'done'],
    [4000, 'app-defined ✓'],
    [3000, 'r'.repeat(123)],
  ] as const) {
    it(`carries close code ${code} and a ${Buffer.byteLength(reason)}-byte reason from Hotline to ws`, async () => {
      const ws = await openClient(`${url}/echo`);
      serverCloses.length = 0;
      ws.close(code, reason);
      const event = await closed(ws);
      assert.deepEqual([event.code, event.wasClean], [code, true]);
      await eventually(() => serverCloses.length > 0, 2000, 'the ws server to report the close');
      assert.deepEqual(serverCloses, [{ code, reason }]);
    });

    it(`carries close code ${code} and a ${Buffer.byteLength(reason)}-byte reason from ws to Hotline`, async () => {
      const ws = new WebSocket(`${url}/close/${code}/${encodeURIComponent(reason)}`);
      const event = await closed(ws);
      assert.deepEqual([event.code, event.reason, event.wasClean], [code, reason, true]);
    });
  }

  it('reports 1005 to ws when Hotline closes without a code', async () => {
    const ws = await openClient(`${url}/echo`);
    serverCloses.length = 0;
    ws.close();
    assert.equal((await closed(ws)).code, 1005);
    await eventually(() => serverCloses.length > 0, 2000, 'the ws server to report the close');
    assert.equal(serverCloses[0]!.code, 1005);
  });

  it('gets the subprotocol the ws server selected', async () => {
    const ws = await openClient(`${url}/protocol`, ['v1', 'v2']);
    assert.equal(ws.protocol, 'v2');
    assert.equal(await nextMessage(ws), 'selected:v2');
    ws.close();
    await closed(ws);
    const none = await openClient(`${url}/protocol`, ['v1']);
    assert.equal(none.protocol, '');
    none.close();
    await closed(none);
  });

  it('is closed with 1009 by ws when it sends over the ws server\'s maxPayload', async () => {
    const ws = await openClient(`${url}/echo`);
    ws.send(new Uint8Array(2 * MiB + 1));
    const event = await closed(ws, 3000);
    assert.equal(event.code, 1009);
  });
});
