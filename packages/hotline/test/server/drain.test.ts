/**
 * `server.drain()`: a node leaves its pool for a deploy. Its peers, on every transport,
 * are closed with 1012 at moments spread over the window; newcomers are refused 503
 * HL_ERR_DRAINING (and the listener stops, so a load balancer routes elsewhere); open
 * sessions are served until their turn; the server ends closed as by `close()`; and a
 * universal client comes back on the node that replaced it, promptly.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { CLOSE_MARGIN, Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import type { HotlineClient } from '../../src/browser/client.js';
import { RawPeer, upgradeRequest } from '../support/raw.js';
import { get, rawConnect, readUntil } from '../transports/raw-http.js';
import { decodeBatch } from '../../src/protocol/session/wire.js';
import type { RawHttp } from '../transports/raw-http.js';
import { FAST, HTTP_ONLY, next, open, sleep, startServer, waitFor } from '../transports/helpers.js';
import type { Handler, Peer } from '../../src/types.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** Scheduling slack on a loaded two-core machine. */
const SLACK = 1000;

interface Closed {
  readonly transport: string;
  readonly code: number;
  readonly at: number;
}

function recording(closes: Closed[]): Handler<unknown> {
  return {
    message(peer, data, isBinary) {
      peer.send(data, isBinary);
    },
    close(peer: Peer, code: number) {
      closes.push({ transport: peer.transport, code, at: Date.now() });
    },
  };
}

/** Resolves when the client is open; rejects on a close or after `ms`. */
async function opened(client: HotlineClient, ms = 5000): Promise<void> {
  await next(client, 'open', ms);
}

/** Whether a new TCP connection to `port` is refused (nobody listens). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** Reads the HTTP responses of a keep-alive connection one by one (Content-Length bodies). */
function responses(raw: RawHttp): { next(ms?: number): Promise<Uint8Array> } {
  let offset = 0;
  return {
    async next(ms = 3000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const bytes = raw.received().subarray(offset);
        const end = bytes.indexOf('\r\n\r\n');
        if (end !== -1) {
          const head = bytes.subarray(0, end).toString('latin1');
          const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (bytes.length >= end + 4 + length) {
            assert.match(head, /^HTTP\/1\.1 200 /, head + bytes.subarray(end + 4, end + 4 + length).toString());
            offset += end + 4 + length;
            return bytes.subarray(end + 4, end + 4 + length);
          }
        }
        if (Date.now() > deadline) throw new Error(`no whole response within ${ms} ms: ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`);
        await sleep(5);
      }
    },
  };
}

describe('server.drain()', { timeout: 30_000 }, () => {
  it('closes WebSocket peers and every HTTP transport with 1012, spread over the window, refusing newcomers 503 HL_ERR_DRAINING', async () => {
    const closes: Closed[] = [];
    const ts = await startServer(() => ({ '/': recording(closes) }));
    const { server, port } = ts;
    const clients: Array<{ transport: string; client: HotlineClient; codes: number[] }> = [];
    const add = (transport: (typeof HTTP_ONLY)[number] | 'websocket') => {
      const client = open(ts.url('/'), transport, { reconnect: false });
      const entry = { transport, client, codes: [] as number[] };
      client.addEventListener('close', (event) => entry.codes.push((event as unknown as { code: number }).code));
      clients.push(entry);
      return client;
    };
    let drainStarted = 0;
    for (let i = 0; i < 20; i++) add('websocket');
    for (const transport of HTTP_ONLY) add(transport);
    await Promise.all(clients.map(({ client }) => opened(client)));
    assert.equal([...server.peers].length, clients.length);

    // Connections accepted before the drain: one silent, one keep-alive HTTP.
    const silent = await RawPeer.connect(port);
    const keepAlive = await rawConnect(port);

    const window = 500;
    drainStarted = Date.now();
    const drained = server.drain({ window });
    assert.equal(server.drain({ window: 1 }), drained, 'drain() twice returns the same promise');

    // HTTP sessions are open: the listener stays for their new connections until they end.
    assert.equal(await refused(port), false, 'the listener stays while HTTP sessions are open');
    // A WebSocket handshake still reaching the node is refused.
    silent.write(upgradeRequest('/', KEY));
    const head = await silent.readHead();
    assert.equal(head.status, 503);
    const body = await silent.readBytes(Number(head.headers['content-length']));
    assert.match(body.toString(), /HL_ERR_DRAINING/);
    // So is a new HTTP session, on a connection the node still serves.
    get(keepAlive, '/?transport=polling');
    const answer = await readUntil(keepAlive, /\r\n\r\n\{.*\}/s);
    assert.match(answer, /^HTTP\/1\.1 503 /);
    assert.match(answer, /"code":"HL_ERR_DRAINING"/);

    await drained;
    assert.equal(await refused(port), true, 'the listener is gone once the drain is over');
    const elapsed = Date.now() - drainStarted;
    const closeTimeout = server.options.closeTimeout;
    assert.ok(elapsed <= window + closeTimeout + CLOSE_MARGIN + SLACK, `drain took ${elapsed} ms`);

    // Every peer's close hook ran, with 1012, before drain() resolved.
    assert.equal(closes.length, clients.length);
    assert.deepEqual(
      closes.filter((c) => c.code !== 1012).map((c) => ({ ...c, at: c.at - drainStarted })),
      [],
      'every peer was closed with 1012',
    );
    assert.deepEqual(
      closes.map((c) => c.transport).sort(),
      clients.map((c) => c.transport).sort(),
    );
    // Every client was told 1012 (Service Restart).
    await waitFor(() => clients.every((c) => c.codes.length > 0), 'every client closed');
    assert.deepEqual(
      clients.filter((c) => c.codes[0] !== 1012).map((c) => `${c.transport}: ${c.codes[0]}`),
      [],
    );
    // Spread: 20 uniform draws over 500 ms span less than 200 ms with a chance under 1e-5.
    const times = closes.filter((c) => c.transport === 'websocket').map((c) => c.at - drainStarted);
    const span = Math.max(...times) - Math.min(...times);
    assert.ok(span >= window * 0.4, `the WebSocket closes span ${span} ms of a ${window} ms window`);
    assert.ok(Math.min(...times) >= 0);
    // Closed as after close(): nothing left, close() resolves at once, drain() again is the same.
    assert.equal(server.connections, 0);
    assert.equal(ts.transports.size, 0);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 100);
    assert.equal(server.drain(), drained);
    silent.destroy();
    keepAlive.destroy();
  });

  it('serves an open long-poll session over its connection until its turn: every message sent before its close arrives, then 1012', async () => {
    const closes: Closed[] = [];
    const ts = await startServer(() => ({ '/': recording(closes) }));
    const raw = await rawConnect(ts.port);
    const reader = responses(raw);
    get(raw, '/?transport=long-polling');
    const opening = decodeBatch(await reader.next(), { allowOpen: true });
    const sid = (opening.packets[0] as { handshake: { sid: string } }).handshake.sid;
    // The open packet has no sequence number of its own.
    let ack = opening.firstSeq + opening.packets.filter((p) => p.kind !== 'o').length - 1;
    const session = ts.transports.session(sid)!;
    const sent: string[] = [];
    let n = 0;
    const ticker = setInterval(() => {
      const text = `tick ${++n}`;
      if (session.send(text) !== 'dropped') sent.push(text);
    }, 15);
    await sleep(100);
    const started = Date.now();
    const drained = ts.server.drain({ window: 400 });
    const received: string[] = [];
    let closeCode = 0;
    while (closeCode === 0) {
      get(raw, `/?transport=long-polling&sid=${sid}&ack=${ack}`);
      const batch = decodeBatch(await reader.next());
      ack = batch.firstSeq + batch.packets.length - 1;
      for (const packet of batch.packets) {
        if (packet.kind === 'c') closeCode = packet.code;
        else if (packet.kind === 't') received.push(Buffer.from(packet.data).toString());
      }
    }
    const closedAt = Date.now() - started;
    // The close packet is acknowledged as any other.
    get(raw, `/?transport=long-polling&sid=${sid}&ack=${ack}`);
    await drained;
    clearInterval(ticker);
    assert.equal(closeCode, 1012);
    assert.deepEqual(received, sent, 'every message the session took before its close arrived, in order');
    const duringDrain = sent.length - Math.floor(100 / 15) - 2;
    if (closedAt > 100) assert.ok(duringDrain > 0, `no message was served during the drain (closed at ${closedAt} ms)`);
    assert.deepEqual(closes.map((c) => [c.transport, c.code]), [['long-polling', 1012]]);
    raw.destroy();
  });

  it('refuses bad options with HL_ERR_INVALID_ARGUMENT and goes on serving', async () => {
    const closes: Closed[] = [];
    const ts = await startServer(() => ({ '/': recording(closes) }));
    const bad: unknown[] = [
      { window: -1 },
      { window: 1.5 },
      { window: '500' },
      { window: NaN },
      { window: Infinity },
      { window: 2 ** 31 },
      { timeout: -1 },
      { timeout: 'soon' },
      { wndow: 500 },
      null,
      'fast',
    ];
    for (const options of bad) {
      await assert.rejects(ts.server.drain(options as never), { code: 'HL_ERR_INVALID_ARGUMENT' }, `drain(${JSON.stringify(options)})`);
    }
    await assert.rejects(ts.server.drain({ wndow: 5 } as never), /did you mean window/);
    const client = open(ts.url('/'), 'websocket', { reconnect: false });
    await opened(client);
    const echoed = next(client, 'message');
    client.send('still here');
    assert.equal(((await echoed) as unknown as { data: string }).data, 'still here');
    // A valid drain after the refusals works.
    await ts.server.drain({ window: 0 });
    assert.deepEqual(closes.map((c) => c.code), [1012]);
  });

  it('finishes at once on close(): the peers not closed yet get 1001', async () => {
    const closes: Closed[] = [];
    const ts = await startServer(() => ({ '/': recording(closes) }));
    const clients = Array.from({ length: 10 }, () => open(ts.url('/'), 'websocket', { reconnect: false }));
    await Promise.all(clients.map((client) => opened(client)));
    const drained = ts.server.drain({ window: 20_000 });
    await sleep(50);
    const started = Date.now();
    const closing = ts.server.close({ timeout: 500 });
    await Promise.all([drained, closing]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed <= 500 + CLOSE_MARGIN + SLACK, `close() during the drain took ${elapsed} ms`);
    assert.equal(closes.length, 10);
    const codes = closes.map((c) => c.code);
    assert.ok(codes.every((code) => code === 1001 || code === 1012), codes.join(', '));
    assert.ok(codes.includes(1001), 'the peers left had 1001');
    assert.equal(ts.server.drain(), drained, 'drain() again returns the same promise');
  });

  it('after close(), drain() returns close\'s promise', async () => {
    const ts = await startServer(() => ({ '/': {} }));
    const closing = ts.server.close({ timeout: 100 });
    assert.equal(ts.server.drain({ window: 100 }), closing);
    await closing;
  });

  it('resolves at once with no peer, and drops at window + timeout a peer that never answers its Close', async () => {
    const closes: Closed[] = [];
    const ts = await startServer(() => ({ '/': recording(closes) }), {}, { closeTimeout: 5000 });
    const deaf = await RawPeer.open(ts.port, '/');
    const started = Date.now();
    await ts.server.drain({ window: 200, timeout: 300 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 200, `drain took ${elapsed} ms`);
    assert.ok(elapsed <= 200 + 300 + CLOSE_MARGIN + SLACK, `drain took ${elapsed} ms: the deadline did not hold`);
    assert.deepEqual(closes.map((c) => c.code), [1006], 'the deaf peer was dropped');
    const close = await deaf.readClose().catch(() => null);
    if (close !== null) assert.equal(close.code, 1012);
    deaf.destroy();

    const empty = await startServer(() => ({ '/': {} }));
    const emptyStarted = Date.now();
    await empty.server.drain({ window: 5000 });
    assert.ok(Date.now() - emptyStarted < 500, 'with nobody to close, the drain does not wait for its window');
  });

  for (const transport of ['websocket', 'long-polling'] as const) {
    it(`a universal client (${transport}) closed with 1012 reconnects promptly, to the node that took the port`, async () => {
      const opensA: string[] = [];
      const opensB: string[] = [];
      const node = (opens: string[]) => {
        const server = new Server({ closeTimeout: 400 });
        server.route('/', { open: (peer) => void opens.push(peer.transport) });
        enableHttpTransports(server, FAST);
        return server;
      };
      const a = node(opensA);
      const { port } = await a.listen(0, '127.0.0.1');
      // The default backoff would wait minDelay ± 50 %; after 1012 it is at most minDelay.
      const minDelay = 400;
      const client = open(`http://127.0.0.1:${port}/`, transport, { reconnect: { minDelay, maxDelay: 5000, retries: 20 } });
      await opened(client);
      assert.deepEqual(opensA, [transport]);
      const window = 300;
      const started = Date.now();
      const closedWith = next<Event & { code: number; willReconnect: boolean }>(client, 'close', 5000);
      const drained = a.drain({ window });
      // The replacement takes the port as soon as the old listener let go of it (at once,
      // or, with an HTTP session open, once the drain has closed it).
      let b = node(opensB);
      for (let tries = 0; ; tries++) {
        try {
          if (tries > 0) {
            await b.close({ timeout: 0 });
            b = node(opensB);
          }
          await b.listen(port, '127.0.0.1');
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== 'EADDRINUSE' || tries > 200) throw error;
          await sleep(10);
        }
      }
      const close = await closedWith;
      assert.equal(close.code, 1012);
      assert.equal(close.willReconnect, true);
      await opened(client, 5000);
      const back = Date.now() - started;
      assert.deepEqual(opensB, [transport], 'the client came back on the new node');
      assert.ok(back <= window + minDelay + SLACK, `back after ${back} ms`);
      await drained;
      client.close();
      await b.close({ timeout: 200 });
    });
  }
});
