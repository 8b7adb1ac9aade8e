/**
 * The server-wide budgets of the WebSocket side: bytes held in incomplete frames and
 * messages across connections (`maxPartialBytes`) and bytes buffered for peers that do not
 * read (`maxOutboundBytes`). Each connection alone is within its own limits; together
 * they would not be. Past a budget, the connections holding the most are failed with
 * 1013 (Try Again Later) while a bystander keeps echoing.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import type { Peer, SendResult } from '../../src/types.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import { RawPeer, clientFrame } from '../support/raw.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { eventually } from '../support/timing.js';

const BINARY = 0x2;

/** What holds a WebSocket peer's bytes in a server-wide budget: its shell. */
const holder = (peer: Peer<any>): never => (peer as unknown as WebSocketPeer).shell as never;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Fixture {
  server: Server;
  port: number;
  recorder: Recorder;
  good: WsClient;
}

let fixtures: Fixture[] = [];
let raws: RawPeer[] = [];

afterEach(async () => {
  for (const raw of raws) raw.destroy();
  raws = [];
  for (const f of fixtures) {
    await closeWs(f.good);
    await f.server.close({ timeout: 300 });
  }
  fixtures = [];
});

async function fixture(options: ServerOptions): Promise<Fixture> {
  const recorder = new Recorder();
  const { server, port, url } = await listening({ closeTimeout: 500, ...options }, (s) => s.route('*', recorder.echo()));
  const good = await wsClient(`${url}/good`);
  await recorder.nextPeer();
  const f = { server, port, recorder, good };
  fixtures.push(f);
  return f;
}

async function rawPeer(f: Fixture): Promise<{ raw: RawPeer; peer: Peer<any> }> {
  const raw = await RawPeer.open(f.port, '/raw');
  raws.push(raw);
  return { raw, peer: await f.recorder.nextPeer() };
}

/** Waits until the server has read `bytes` more of `raw`'s frame, or failed it. */
async function held(f: Fixture, peer: Peer<any>, bytes: number): Promise<void> {
  const budget = f.server.partial;
  await eventually(
    () => budget.heldBy(holder(peer)) >= bytes || f.recorder.of('error', peer).length > 0,
    5000,
    `the server to hold ${bytes} bytes of a partial frame`,
  );
}

describe('maxPartialBytes: the bytes held in incomplete frames, across connections', { timeout: 30_000 }, () => {
  it('fails the connections holding the most with 1013 once partial frames pass the budget, while a bystander echoes', async () => {
    const limit = 1 * MiB;
    const f = await fixture({ maxPartialBytes: limit, maxPayload: 4 * MiB });
    const budget = f.server.partial;
    const frame = clientFrame({ opcode: BINARY, payload: Buffer.alloc(2 * MiB, 7) });
    const peers: Array<{ raw: RawPeer; peer: Peer<any> }> = [];
    let most = 0;
    // Six peers, each 300 KiB into a 2 MiB frame: 1.8 MiB together.
    for (let i = 0; i < 6; i++) {
      const p = await rawPeer(f);
      peers.push(p);
      p.raw.write(frame.subarray(0, 300 * KiB));
      await held(f, p.peer, 300 * KiB - 14);
      most = Math.max(most, budget.used);
      await assertEchoes(f.good);
    }
    assert.ok(most <= limit, `held ${most} bytes`);
    const failed = peers.filter((p) => f.recorder.of('error', p.peer).length > 0);
    assert.ok(failed.length >= 2, `${failed.length} connections failed`);
    for (const p of failed) {
      const error = f.recorder.of('error', p.peer)[0]!.error;
      assert.equal(error.code, 'HL_ERR_PARTIAL_BYTES');
      assert.equal(error.closeCode, 1013);
      const close = await p.raw.readClose(3000);
      assert.equal(close.code, 1013, 'Try Again Later: the server is under pressure, not the peer at fault');
      await f.recorder.wait('close', p.peer);
    }
    // What the failed connections held is released; the others still hold theirs.
    const survivors = peers.filter((p) => !failed.includes(p));
    assert.ok(survivors.length > 0);
    assert.equal(budget.used, survivors.reduce((sum, p) => sum + budget.heldBy(holder(p.peer)), 0));
    for (const p of survivors) assert.equal(f.recorder.of('close', p.peer).length, 0);
    await assertEchoes(f.good);
  });

  it('refuses a connection that is itself the largest holder with 1013', async () => {
    const f = await fixture({ maxPartialBytes: 1 * MiB, maxPayload: 4 * MiB });
    const { raw, peer } = await rawPeer(f);
    raw.write(clientFrame({ opcode: BINARY, payload: Buffer.alloc(2 * MiB) }).subarray(0, 1.5 * MiB));
    assert.equal((await raw.readClose(3000)).code, 1013);
    assert.equal((await f.recorder.wait('error', peer)).error.code, 'HL_ERR_PARTIAL_BYTES');
    await f.recorder.wait('close', peer);
    assert.equal(f.server.partial.used, 0);
    await assertEchoes(f.good);
  });

  it('answers the messages of the read that passed the budget before its 1013', async () => {
    const f = await fixture({ maxPartialBytes: 32 * KiB });
    const { raw, peer } = await rawPeer(f);
    const partial = clientFrame({ opcode: BINARY, payload: Buffer.alloc(100 * KiB) }).subarray(0, 40 * KiB);
    // One write, well under a read's 64 KiB: the message and the refusal come in one read.
    raw.write(Buffer.concat([clientFrame({ opcode: 0x1, payload: 'hello' }), partial]));
    const close = await raw.readClose(3000);
    assert.equal(close.code, 1013);
    assert.deepEqual(close.before.map((frame) => frame.payload.toString()), ['hello']);
    assert.equal((await f.recorder.wait('error', peer)).error.code, 'HL_ERR_PARTIAL_BYTES');
  });

  it('keeps 1009 for a message over maxPayload, whatever the budget', async () => {
    const f = await fixture({ maxPartialBytes: 64 * KiB, maxPayload: 1 * MiB });
    const { raw, peer } = await rawPeer(f);
    raw.write(clientFrame({ opcode: BINARY, payload: Buffer.alloc(1 * MiB + 1) }).subarray(0, 14));
    assert.equal((await raw.readClose(3000)).code, 1009);
    assert.equal((await f.recorder.wait('error', peer)).error.code, 'HL_ERR_MESSAGE_TOO_BIG');
  });

  it('releases what a connection held once its message is whole, and counts fragments', async () => {
    const f = await fixture({ maxPartialBytes: 4 * MiB });
    const budget = f.server.partial;
    const { raw, peer } = await rawPeer(f);
    const first = clientFrame({ opcode: BINARY, payload: Buffer.alloc(600 * KiB, 1), fin: false });
    raw.write(first);
    await held(f, peer, 600 * KiB);
    const last = clientFrame({ opcode: 0x0, payload: Buffer.alloc(400 * KiB, 2) });
    raw.write(last.subarray(0, 200 * KiB));
    await held(f, peer, 600 * KiB + 200 * KiB - 14);
    raw.write(last.subarray(200 * KiB));
    const echo = await raw.readFrame(5000);
    assert.equal(echo.payload.length, 1000 * KiB);
    assert.equal(budget.used, 0);
    assert.equal(budget.heldBy(holder(peer)), 0);
  });
});

describe('maxOutboundBytes: the bytes buffered for peers that do not read', { timeout: 60_000 }, () => {
  /** Sends 256 KiB chunks to `peer` until its socket has backed up by `over` bytes, or a send is dropped. */
  async function backUp(peer: Peer<any>, over: number): Promise<SendResult> {
    const chunk = Buffer.alloc(256 * KiB, 3);
    for (let i = 0; i < 400; i++) {
      const result = peer.send(chunk);
      if (result === 'dropped' || peer.bufferedAmount >= over || peer.readyState !== 1) return result;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error('the socket never backed up');
  }

  it('closes the peer that buffers the most with 1013 and destroys its socket when another needs the room', async () => {
    const limit = 2 * MiB;
    const f = await fixture({ maxOutboundBytes: limit, maxBufferedAmount: 64 * MiB });
    const outbound = f.server.outbound;
    const a = await rawPeer(f);
    const b = await rawPeer(f);
    a.raw.socket.pause();
    b.raw.socket.pause();
    // A backs up first and takes most of the budget.
    await backUp(a.peer, 1.5 * MiB);
    assert.ok(outbound.heldBy(holder(a.peer)) > 0, 'a backed-up peer holds a reservation');
    // B backs up too: A, holding more, is evicted to make room.
    await backUp(b.peer, 1 * MiB);
    const error = await f.recorder.wait('error', a.peer, 5000);
    assert.equal(error.error.code, 'HL_ERR_BUFFER_FULL');
    assert.equal(error.error.closeCode, 1013);
    await f.recorder.wait('close', a.peer, 5000);
    assert.equal(outbound.heldBy(holder(a.peer)), 0);
    assert.ok(outbound.used <= limit);
    assert.equal(b.peer.readyState, 1, 'the peer that needed the room is still open');
    await assertEchoes(f.good);
    // B reads again: everything arrives, and its reservation goes with the drain.
    b.raw.socket.resume();
    await eventually(() => b.peer.bufferedAmount === 0, 10_000, 'B to drain');
    await eventually(() => outbound.heldBy(holder(b.peer)) === 0, 2000, 'B to release its reservation');
  });

  it('drops the send of a peer whose own reservation is refused, and fires drain once it catches up', async () => {
    const f = await fixture({ maxOutboundBytes: 1 * MiB, maxBufferedAmount: 64 * MiB });
    const { raw, peer } = await rawPeer(f);
    raw.socket.pause();
    const result = await backUp(peer, 8 * MiB);
    assert.equal(result, 'dropped');
    assert.equal(peer.readyState, 1, 'refused, not closed: it holds the most itself');
    assert.ok(f.server.outbound.used <= 1 * MiB + 256 * KiB);
    raw.socket.resume();
    await f.recorder.wait('drain', peer, 10_000);
    assert.equal(f.server.outbound.heldBy(holder(peer)), 0);
  });

  it('costs a peer that keeps up nothing: no reservation while the kernel takes everything', async () => {
    const f = await fixture({ maxOutboundBytes: 1 * MiB });
    const { raw, peer } = await rawPeer(f);
    for (let i = 0; i < 20; i++) {
      raw.send({ opcode: BINARY, payload: Buffer.alloc(1000) });
      await raw.readFrame();
      assert.equal(f.server.outbound.heldBy(holder(peer)), 0);
    }
    assert.equal(f.server.outbound.used, 0);
  });
});
