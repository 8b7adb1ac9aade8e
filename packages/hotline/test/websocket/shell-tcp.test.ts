/**
 * The connection shell over real sockets, seen from a raw TCP client: messages and
 * fragments, the automatic Pong, the closing handshake and its timeout, backpressure,
 * write batching, and heartbeats driven by the server's one shared sweep.
 */
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from '../../src/server/server.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import type { Handler, Peer, SendResult } from '../../src/types.js';
import { RawPeer, clientFrame, closePayload, upgradeRequest } from '../support/raw.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { delay, eventually, spyOnTimers } from '../support/timing.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
const KiB = 1024;
const MiB = 1024 * KiB;
/** Scheduling slack on a loaded two-core machine. */
const SLACK = 400;

/** The WebSocket peer behind the Peer interface, with its streaming and ping methods. */
const shell = (peer: Peer<any>) => peer as unknown as WebSocketPeer;

/** Counts `socket.write` calls on a peer's socket from now on. */
function countWrites(peer: Peer<any>): { readonly count: number } {
  const socket = (shell(peer).shell as unknown as { socket: net.Socket }).socket;
  const original = socket.write;
  const counter = { count: 0 };
  socket.write = function (this: typeof socket, ...args: Parameters<typeof original>) {
    counter.count++;
    return original.apply(this, args);
  } as typeof original;
  return counter;
}

describe('the connection shell', { timeout: 30_000 }, () => {
  let server: Server;
  let port: number;
  const recorder = new Recorder();
  /** Per-path hooks, so each test can give the server its own behaviour. */
  const behaviours = new Map<string, Partial<Handler>>();

  before(async () => {
    const started = await listening({ closeTimeout: 300 }, (s) =>
      s.route(
        '*',
        recorder.handler({
          upgrade: (request) => ({ data: { path: request.path } }),
          open: (peer) => behaviours.get((peer.data as { path: string }).path)?.open?.(peer),
          message: (peer, data, isBinary) => {
            const custom = behaviours.get((peer.data as { path: string }).path);
            if (custom?.message) custom.message(peer, data, isBinary);
            else peer.send(data, isBinary);
          },
        }),
      ),
    );
    server = started.server;
    port = started.port;
  });

  after(() => server.close({ timeout: 300 }));

  async function open(path: string, hooks: Partial<Handler> = {}, options: { allowHalfOpen?: boolean } = {}): Promise<{ raw: RawPeer; peer: Peer<any> }> {
    behaviours.set(path, hooks);
    const raw = await RawPeer.open(port, path, {}, options);
    const peer = await recorder.nextPeer();
    return { raw, peer };
  }

  it('echoes text as text and binary as binary, empty messages included', async () => {
    const { raw } = await open('/echo');
    const sent = [
      { opcode: TEXT, payload: Buffer.from('héllo ✓') },
      { opcode: BINARY, payload: Buffer.from([0, 1, 2, 255]) },
      { opcode: TEXT, payload: Buffer.alloc(0) },
      { opcode: BINARY, payload: Buffer.alloc(0) },
      { opcode: BINARY, payload: Buffer.alloc(70 * KiB, 9) },
    ];
    for (const frame of sent) raw.send(frame);
    for (const frame of sent) {
      const echo = await raw.readFrame();
      assert.equal(echo.opcode, frame.opcode);
      assert.equal(echo.fin, true);
      assert.equal(echo.masked, false, 'server frames are never masked (§5.1)');
      assert.ok(echo.payload.equals(frame.payload));
    }
    raw.destroy();
  });

  it('streams a message with sendFragment: first frame carries the opcode, the rest are continuations (§5.4)', async () => {
    const results: SendResult[] = [];
    const { raw } = await open('/fragments-out', {
      open(peer) {
        const p = shell(peer);
        results.push(p.sendFragment('Hel', false, false));
        // A whole message cannot start inside a fragmented one; a Ping may go between fragments.
        results.push(p.send('interleaved'));
        p.ping(Buffer.from('between'));
        results.push(p.sendFragment('lo', false, false));
        results.push(p.sendFragment(Buffer.from('!'), false, true));
        results.push(p.send('after'));
      },
    });
    const frames = [await raw.readFrame(), await raw.readFrame(), await raw.readFrame(), await raw.readFrame(), await raw.readFrame()];
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.payload.toString()]),
      [
        [TEXT, false, 'Hel'],
        [PING, true, 'between'],
        [CONTINUATION, false, 'lo'],
        [CONTINUATION, true, '!'],
        [TEXT, true, 'after'],
      ],
    );
    assert.deepEqual(results, ['sent', 'dropped', 'sent', 'sent', 'sent']);
    raw.destroy();
  });

  it('reassembles a fragmented message and answers a Ping between its fragments at once', async () => {
    const { raw, peer } = await open('/fragments-in', { message: () => {} });
    raw.write(Buffer.concat([clientFrame({ opcode: TEXT, payload: 'frag', fin: false }), clientFrame({ opcode: PING, payload: 'mid' })]));
    const pong = await raw.readFrame();
    assert.equal(pong.opcode, PONG);
    assert.equal(pong.payload.toString(), 'mid');
    assert.equal(recorder.of('message', peer).length, 0, 'nothing delivered before the last fragment');
    raw.send({ opcode: CONTINUATION, payload: 'ment', fin: false });
    raw.send({ opcode: CONTINUATION, payload: 's', fin: true });
    const message = await recorder.wait('message', peer);
    assert.equal(message.data.toString(), 'fragments');
    assert.equal(message.isBinary, false);
    raw.destroy();
  });

  it('answers a Ping with a Pong carrying the same payload, without the handler (§5.5.2)', async () => {
    const { raw } = await open('/ping');
    const payload = Buffer.from(Array.from({ length: 125 }, (_, i) => i));
    raw.send({ opcode: PING, payload });
    const pong = await raw.readFrame();
    assert.equal(pong.opcode, PONG);
    assert.ok(pong.payload.equals(payload));
    raw.send({ opcode: PING });
    const empty = await raw.readFrame();
    assert.equal(empty.opcode, PONG);
    assert.equal(empty.payload.length, 0);
    raw.destroy();
  });

  it('sends the automatic Pong before the replies to messages of the same read', async () => {
    const { raw } = await open('/pong-first');
    raw.write(Buffer.concat([clientFrame({ opcode: TEXT, payload: 'm1' }), clientFrame({ opcode: PING, payload: 'p' })]));
    const first = await raw.readFrame();
    const second = await raw.readFrame();
    assert.deepEqual([first.opcode, second.opcode], [PONG, TEXT]);
    raw.destroy();
  });

  it('completes a client-initiated closing handshake: echoes the code, then closes TCP first (§7.1.1)', async () => {
    const { raw, peer } = await open('/client-close', {}, { allowHalfOpen: true });
    raw.send({ opcode: CLOSE, payload: closePayload(4001, 'bye now') });
    const close = await raw.readClose();
    assert.equal(close.code, 4001, '§5.5.1: the echo carries the code received');
    await raw.waitEnd();
    assert.equal(raw.finSent, false, 'the server closed TCP before the client did');
    raw.end();
    const closed = await recorder.wait('close', peer);
    assert.deepEqual([closed.code, closed.reason], [4001, 'bye now']);
    assert.equal(peer.readyState, 3);
    assert.equal(recorder.of('error', peer).length, 0);
  });

  it('completes a server-initiated closing handshake and still delivers messages sent before the client\'s Close (§5.5.1)', async () => {
    const { raw, peer } = await open('/server-close', { message: () => {} }, { allowHalfOpen: true });
    peer.close(4002, 'done here');
    assert.equal(peer.readyState, 2);
    assert.equal(peer.send('too late'), 'dropped');
    const close = await raw.readClose();
    assert.deepEqual([close.code, close.reason], [4002, 'done here']);
    raw.send({ opcode: TEXT, payload: 'in flight' });
    raw.send({ opcode: CLOSE, payload: closePayload(4002) });
    await raw.waitEnd();
    assert.equal(raw.finSent, false, 'the server closed TCP first');
    raw.end();
    const closed = await recorder.wait('close', peer);
    assert.equal(closed.code, 4002);
    assert.deepEqual(recorder.of('message', peer).map((m) => m.data.toString()), ['in flight']);
  });

  it('drops TCP at closeTimeout when the client never answers the Close (HL_ERR_CLOSE_TIMEOUT)', async () => {
    const { raw, peer } = await open('/close-timeout', {}, { allowHalfOpen: true });
    const started = Date.now();
    peer.close(1000);
    assert.equal((await raw.readClose()).code, 1000);
    // Until the deadline the server waits for our Close; then it drops TCP.
    await raw.waitEnd(300 + SLACK);
    const closed = await recorder.wait('close', peer, SLACK);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 - 80, `dropped after ${elapsed} ms`);
    assert.equal(closed.code, 1006);
    const error = await recorder.wait('error', peer);
    assert.equal(error.error.code, 'HL_ERR_CLOSE_TIMEOUT');
    raw.destroy();
  });

  it('drops TCP at closeTimeout when the client echoes the Close but never closes its side', async () => {
    const { raw, peer } = await open('/half-open', {}, { allowHalfOpen: true });
    const started = Date.now();
    raw.send({ opcode: CLOSE, payload: closePayload(1000) });
    await raw.readClose();
    await raw.waitEnd();
    assert.ok(Date.now() - started < 200, 'the server half-closes at once');
    const closed = await recorder.wait('close', peer, 300 + SLACK);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 - 80, `dropped after ${elapsed} ms`);
    assert.equal(closed.code, 1000, 'the handshake itself completed');
    raw.destroy();
  });

  it('reports bufferedAmount while the kernel is backed up, then fires drain once it empties', async () => {
    const { raw, peer } = await open('/drain');
    raw.socket.pause();
    const results: SendResult[] = [];
    const chunk = Buffer.alloc(MiB, 1);
    // One send per tick: a send of the same tick is only batched, not backed up.
    for (let i = 0; i < 64; i++) {
      const result = peer.send(chunk);
      results.push(result);
      if (result === 'buffered') break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(results.at(-1), 'buffered', `results: ${results.join(',')}`);
    assert.ok(results.slice(0, -1).every((r) => r === 'sent'));
    assert.ok(peer.bufferedAmount >= MiB, 'bufferedAmount counts what the kernel refused');
    await delay(20);
    assert.equal(recorder.of('drain', peer).length, 0, 'no drain while nothing is read');
    raw.socket.resume();
    await recorder.wait('drain', peer, 5000);
    assert.equal(peer.bufferedAmount, 0);
    assert.equal(recorder.of('drain', peer).length, 1);
    raw.destroy();
  });

  /**
   * A peer that stops reading, fills the socket until a send answers 'buffered', then sends
   * its FIN: our own FIN waits behind the bytes the kernel holds, so the socket stays open.
   */
  async function halfCloseWithoutReading(path: string): Promise<{ raw: RawPeer; peer: Peer<any> }> {
    const { raw, peer } = await open(path, {}, { allowHalfOpen: true });
    raw.socket.pause();
    for (let i = 0; i < 16 && peer.send(Buffer.alloc(MiB, 1)) !== 'buffered'; i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    raw.end();
    return { raw, peer };
  }

  it('drops sends once the peer ended its stream, while the socket still drains (never throws into the sweep)', async () => {
    // The idle sweep still visits the socket after the peer's FIN.
    const { raw, peer } = await halfCloseWithoutReading('/ended');
    await eventually(() => peer.readyState !== 1, 2000, 'the server to see the FIN');
    assert.equal(peer.send('late'), 'dropped');
    assert.doesNotThrow(() => shell(peer).ping(), 'the heartbeat Ping the sweep would send');
    raw.destroy();
    assert.equal((await recorder.wait('close', peer)).code, 1006);
  });

  it('ends a socket the peer half-closed but never reads, after the close timeout', async () => {
    const { raw, peer } = await halfCloseWithoutReading('/ended-unread');
    // closeTimeout is 300 ms here; the socket would otherwise stay open for as long as
    // the peer keeps it (this server has no idle timeout).
    const closed = await recorder.wait('close', peer);
    assert.equal(closed.code, 1006);
    raw.destroy();
  });

  it('fires drain after a send was dropped over maxBufferedAmount within one tick', async () => {
    const results: SendResult[] = [];
    const { raw, peer } = await open('/drain-dropped', {
      open(peer) {
        // 8 MiB (and frame headers) in one tick: the default 8 MiB limit drops the eighth.
        for (let i = 0; i < 8; i++) results.push(peer.send(Buffer.alloc(MiB)));
      },
    });
    assert.deepEqual(results, [...Array(7).fill('sent'), 'dropped']);
    await recorder.wait('drain', peer, 5000);
    let received = 0;
    while (received < 7) {
      await raw.readFrame(5000);
      received++;
    }
    raw.destroy();
  });

  it('returns dropped instead of queueing past maxBufferedAmount', async () => {
    const recorder2 = new Recorder();
    const results: SendResult[] = [];
    let highest = 0;
    const { server: small, port: smallPort } = await listening({ maxBufferedAmount: MiB }, (s) =>
      s.route('*', recorder2.handler({
        open(peer) {
          const chunk = Buffer.alloc(128 * KiB, 2);
          for (let i = 0; i < 256; i++) {
            const result = peer.send(chunk);
            results.push(result);
            highest = Math.max(highest, peer.bufferedAmount);
            if (result === 'dropped') break;
          }
        },
      })),
    );
    try {
      const raw = await RawPeer.open(smallPort, '/');
      raw.socket.pause();
      const peer = await recorder2.nextPeer();
      assert.equal(results.at(-1), 'dropped');
      assert.ok(highest <= MiB, `bufferedAmount reached ${highest}`);
      assert.equal(peer.readyState, 1, 'a dropped message does not close the peer');
      raw.destroy();
    } finally {
      await small.close({ timeout: 200 });
    }
  });

  it('writes many sends of one tick with one socket write', async () => {
    let writes: { readonly count: number } = { count: -1 };
    const { raw, peer } = await open('/batch', {
      open(peer) {
        writes = countWrites(peer);
        for (let i = 0; i < 100; i++) peer.send(`m${i}`);
      },
    });
    for (let i = 0; i < 100; i++) assert.equal((await raw.readFrame()).payload.toString(), `m${i}`);
    assert.equal(writes.count, 1);
    // Outside any handler: sends of one tick still leave together.
    const later = countWrites(peer);
    for (let i = 0; i < 50; i++) peer.send(Buffer.from([i]));
    for (let i = 0; i < 50; i++) assert.equal((await raw.readFrame()).payload[0], i);
    assert.equal(later.count, 1);
    raw.destroy();
  });

  it('answers the messages of one read with one socket write', async () => {
    const { raw, peer } = await open('/batch-replies');
    const writes = countWrites(peer);
    raw.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => clientFrame({ opcode: TEXT, payload: `r${i}` }))));
    for (let i = 0; i < 50; i++) assert.equal((await raw.readFrame()).payload.toString(), `r${i}`);
    assert.equal(writes.count, 1);
    raw.destroy();
  });

  it('delivers frames sent with the upgrade request after open, and answers them after the 101', async () => {
    behaviours.set('/eager', {});
    const raw = await RawPeer.connect(port);
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    raw.write(Buffer.concat([Buffer.from(upgradeRequest('/eager', key)), clientFrame({ opcode: TEXT, payload: 'eager' })]));
    assert.equal((await raw.readHead()).status, 101);
    const echo = await raw.readFrame();
    assert.equal(echo.payload.toString(), 'eager');
    const peer = await recorder.nextPeer();
    assert.deepEqual(
      recorder.events.filter((e) => e.peer === peer).map((e) => e.kind),
      ['open', 'message'],
    );
    raw.destroy();
  });

  it('keeps frames that arrive while an async upgrade hook runs, in order', async () => {
    const recorder2 = new Recorder();
    const { server: slow, port: slowPort } = await listening({}, (s) =>
      s.route(
        '*',
        recorder2.echo({
          async upgrade() {
            await delay(80);
            return {};
          },
        }),
      ),
    );
    try {
      const raw = await RawPeer.connect(slowPort);
      const key = 'dGhlIHNhbXBsZSBub25jZQ==';
      raw.write(Buffer.concat([Buffer.from(upgradeRequest('/', key)), clientFrame({ opcode: TEXT, payload: 'with the request' })]));
      await delay(20);
      raw.write(clientFrame({ opcode: TEXT, payload: 'during the hook' }));
      assert.equal((await raw.readHead()).status, 101);
      assert.equal((await raw.readFrame()).payload.toString(), 'with the request');
      assert.equal((await raw.readFrame()).payload.toString(), 'during the hook');
      raw.destroy();
    } finally {
      await slow.close({ timeout: 200 });
    }
  });

  it('ignores frames that follow the client\'s Close (§5.5.1)', async () => {
    const { raw, peer } = await open('/after-close');
    raw.write(Buffer.concat([clientFrame({ opcode: CLOSE, payload: closePayload(1000) }), clientFrame({ opcode: TEXT, payload: 'ghost' })]));
    assert.equal((await raw.readClose()).code, 1000);
    await raw.waitClosed();
    await recorder.wait('close', peer);
    assert.equal(recorder.of('message', peer).length, 0);
    assert.equal(recorder.of('error', peer).length, 0);
  });

  it('reports 1006 when the client closes TCP without a Close frame', async () => {
    const { raw, peer } = await open('/fin-only');
    raw.end();
    const closed = await recorder.wait('close', peer);
    assert.deepEqual([closed.code, closed.reason], [1006, '']);
    await raw.waitClosed();
  });

  it('reports HL_ERR_SOCKET and 1006 when the client resets the connection', async () => {
    const { raw, peer } = await open('/reset');
    raw.socket.resetAndDestroy();
    const closed = await recorder.wait('close', peer);
    assert.equal(closed.code, 1006);
    assert.equal((await recorder.wait('error', peer)).error.code, 'HL_ERR_SOCKET');
  });

  it('refuses an invalid close code or reason from the application at once, sending nothing', async () => {
    const { raw, peer } = await open('/bad-close');
    assert.throws(() => peer.close(1005, 'needs a code'), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => peer.close(999), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => peer.close(1000, 'x'.repeat(124)), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.equal(peer.readyState, 1);
    raw.send({ opcode: TEXT, payload: 'still open' });
    assert.equal((await raw.readFrame()).payload.toString(), 'still open');
    raw.destroy();
  });

  it('fails only the peer whose message hook throws, with 1011 and no details', async () => {
    const { raw, peer } = await open('/throws', {
      message() {
        throw new Error('secret internals');
      },
    });
    const bystander = await wsClient(`ws://127.0.0.1:${port}/bystander`);
    await recorder.nextPeer();
    raw.send({ opcode: TEXT, payload: 'boom' });
    const close = await raw.readClose();
    assert.equal(close.code, 1011);
    assert.equal(close.reason, '');
    await raw.waitClosed();
    const error = await recorder.wait('error', peer);
    assert.equal(error.error.message, 'secret internals', 'the application sees its own error');
    await assertEchoes(bystander);
    await closeWs(bystander);
  });

  // Regression: terminate() destroys the socket, whose close is reported a turn later;
  // until then the rest of the read went on reaching the handler.
  it('delivers nothing more once a handler terminated the peer, not even the rest of the same read', async () => {
    const seen: string[] = [];
    const { raw, peer } = await open('/terminates', {
      message(p, data) {
        seen.push(data.toString());
        if (data.toString() === 'stop') p.terminate();
      },
    });
    raw.write(Buffer.concat(['one', 'stop', 'three', 'four'].map((payload) => clientFrame({ opcode: TEXT, payload }))));
    await recorder.wait('close', peer);
    assert.deepEqual(seen, ['one', 'stop']);
  });
});

describe('heartbeats and idle timeout', { timeout: 20_000 }, () => {
  const IDLE = 400;
  let server: Server;
  let port: number;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({ idleTimeout: IDLE }, (s) => s.route('*', recorder.echo()));
    server = started.server;
    port = started.port;
  });
  after(() => server.close({ timeout: 200 }));

  it('pings a silent peer at half idleTimeout, then drops it at idleTimeout (HL_ERR_IDLE_TIMEOUT)', async () => {
    const raw = await RawPeer.open(port, '/silent');
    const peer = await recorder.nextPeer();
    const started = Date.now();
    const ping = await raw.readFrame(IDLE + SLACK);
    const pingedAfter = Date.now() - started;
    assert.equal(ping.opcode, PING);
    assert.ok(pingedAfter >= IDLE / 2 - 110, `pinged after ${pingedAfter} ms`);
    assert.ok(pingedAfter < IDLE, `pinged after ${pingedAfter} ms`);
    await raw.waitClosed(IDLE + SLACK);
    const droppedAfter = Date.now() - started;
    assert.ok(droppedAfter >= IDLE - 110, `dropped after ${droppedAfter} ms`);
    assert.equal((await recorder.wait('error', peer)).error.code, 'HL_ERR_IDLE_TIMEOUT');
    assert.equal((await recorder.wait('close', peer)).code, 1006);
  });

  it('keeps a peer that answers the heartbeat Pings alive', async () => {
    const ws = await wsClient(`ws://127.0.0.1:${port}/alive`);
    let pings = 0;
    ws.on('ping', () => pings++);
    await delay(IDLE * 3);
    assert.ok(pings >= 2, `${pings} pings`);
    await assertEchoes(ws);
    await closeWs(ws);
  });

  it('drives every deadline of every peer from one shared timer', async () => {
    // One connection first, so that the sweep is running.
    const first = await RawPeer.open(port, '/first');
    await eventually(() => server.sweep.size === 1, 1000, 'the first peer to join the sweep');
    const timers = spyOnTimers();
    const { created } = timers;
    let raws: RawPeer[] = [];
    try {
      raws = await Promise.all(Array.from({ length: 20 }, (_, i) => RawPeer.open(port, `/many/${i}`)));
      await eventually(() => server.sweep.size === 21, 1000, 'every peer to join the sweep');
      for (const raw of raws) raw.send({ opcode: TEXT, payload: 'x' });
      for (const raw of raws) await raw.readFrame();
      // Half the idle timeout passes: every peer is pinged, by the same sweep.
      for (const raw of raws) assert.equal((await raw.readFrame(IDLE + SLACK)).opcode, PING);
    } finally {
      timers.restore();
    }
    assert.deepEqual(created, [], 'no timer was created for 20 more connections');
    for (const raw of [first, ...raws]) raw.destroy();
    await eventually(() => server.sweep.size === 0, 1000, 'the sweep to empty');
  });
});
