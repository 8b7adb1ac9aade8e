import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';

import type { Peer } from '../../src/types.js';
import { type TestServer, startServer } from './helpers.js';
import { get, heldBytes, openPollingSession, openSseSession, rawConnect, readUntil, serverSide, serverSockets } from './raw-http.js';
import { eventually } from '../support/timing.js';

/**
 * Clients that do not read: the server writes into a response only what its socket
 * takes, an acknowledgement frees only what was really written, a reconnecting stream
 * replaces the old one for good, and an answer left unread is destroyed at a deadline.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

async function ack(ts: TestServer, transport: string, sid: string, n: number): Promise<{ status: number; code: string; message: string }> {
  const response = await fetch(ts.url(`/b?transport=${transport}&sid=${sid}&ack=${n}`), { method: 'POST', body: `${1};` });
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
  return { status: response.status, code: body.code ?? '', message: body.message ?? '' };
}

describe('clients that do not read', () => {
  let ts: TestServer;
  let sockets: Socket[];
  const peers = new Map<string, Peer>();

  before(async () => {
    ts = await startServer(
      () => ({
        '/b': {
          open(peer: Peer) {
            peers.set((peer as unknown as { sid: string }).sid, peer);
          },
        },
      }),
      { maxQueue: 16 * MiB, drainTimeout: 600 },
    );
    sockets = serverSockets(ts);
  });
  after(() => ts.close());

  it('writes into an SSE stream only what its socket takes, however many acknowledgements its client posts', async () => {
    const raw = await rawConnect(ts.port);
    const sid = await openSseSession(raw, '/b');
    raw.stopReading();
    const peer = peers.get(sid)!;
    const message = 'x'.repeat(64 * KiB);
    let most = 0;
    // The attack: acknowledge everything sent (never read), so that the queue empties
    // and the application sends more.
    for (let i = 1; i <= 400; i++) {
      peer.send(message);
      await ack(ts, 'sse', sid, i);
      most = Math.max(most, heldBytes(sockets));
    }
    assert.ok(most < 1 * MiB, `the server held ${(most / MiB).toFixed(1)} MiB for a client that reads nothing`);
    raw.destroy();
  });

  it('counts the bytes an SSE stream holds for its client in maxQueue', async () => {
    const before = sockets.length;
    const raw = await rawConnect(ts.port);
    const sid = await openSseSession(raw, '/b');
    raw.stopReading();
    const socket = sockets[before]!;
    const peer = peers.get(sid)!;
    let sends = 0;
    while (peer.send('q'.repeat(64 * KiB)) !== 'dropped') {
      sends++;
      // Let each event reach the socket, as a stream writes them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(sends > 0);
    const held = peer.bufferedAmount + socket.writableLength;
    assert.ok(held <= 16 * MiB + 64 * KiB, `queue and stream together hold ${(held / MiB).toFixed(2)} MiB for a 16 MiB maxQueue`);
    peer.terminate();
    raw.destroy();
  });

  it('refuses an acknowledgement past what the session wrote, without telling any counter', async () => {
    const raw = await rawConnect(ts.port);
    const sid = await openSseSession(raw, '/b');
    raw.stopReading();
    const peer = peers.get(sid)!;
    for (let i = 0; i < 100; i++) peer.send('y'.repeat(64 * KiB));
    await new Promise((resolve) => setImmediate(resolve));
    const refused = await ack(ts, 'sse', sid, 100);
    assert.deepEqual([refused.status, refused.code], [400, 'HL_ERR_MALFORMED_QUERY']);
    assert.doesNotMatch(refused.message, /[0-9]/, `the message tells a number: ${refused.message}`);
    raw.destroy();
  });

  it('destroys the previous SSE stream of a session when its client comes back on a new one', async () => {
    const first = await rawConnect(ts.port);
    const sid = await openSseSession(first, '/b');
    first.stopReading();
    const peer = peers.get(sid)!;
    for (let i = 0; i < 24; i++) peer.send('z'.repeat(64 * KiB)); // 1.5 MiB, under maxQueue
    const streams = [first];
    let most = 0;
    for (let i = 0; i < 20; i++) {
      const raw = await rawConnect(ts.port);
      get(raw, `/b?transport=sse&sid=${sid}&ack=0`, { Accept: 'text/event-stream' });
      await readUntil(raw, 'id: 1\n');
      raw.stopReading();
      streams.push(raw);
      most = Math.max(most, heldBytes(sockets));
    }
    // Only the last stream is alive on the server; the others were destroyed, not ended.
    const old = streams.slice(0, -1).map((raw) => serverSide(sockets, raw));
    await eventually(() => old.every((socket) => socket?.destroyed === true), 2000, 'the old streams to be destroyed');
    assert.equal(serverSide(sockets, streams.at(-1)!)?.destroyed, false);
    assert.ok(most < 2 * MiB, `the server held ${(most / MiB).toFixed(1)} MiB over 20 reconnections`);
    for (const raw of streams) raw.destroy();
  });

  for (const transport of ['polling', 'long-polling'] as const) {
    it(`destroys a ${transport} answer its client leaves unread past drainTimeout, and gives its bytes back`, async () => {
      const sid = await openPollingSession(ts, '/b', transport);
      const peer = peers.get(sid)!;
      // 8 MiB: more than the kernel buffers of a loopback connection take.
      for (let i = 0; i < 128; i++) peer.send('w'.repeat(64 * KiB));
      const raw = await rawConnect(ts.port);
      raw.stopReading();
      const before = sockets.length;
      get(raw, `/b?transport=${transport}&sid=${sid}&ack=0`);
      await eventually(() => sockets.length > before, 2000, 'the poll to arrive');
      const socket = sockets.at(-1)!;
      // What the queue costs: payload, entry and Buffer object of each message.
      const queued = 128 * (64 * KiB + 64 + 96);
      await eventually(() => ts.server.outbound.heldBy(peer as never) > queued, 2000, 'the unread answer to count in the budget');
      await eventually(() => socket.destroyed, 3000, 'the unread answer to be destroyed');
      await eventually(() => ts.server.outbound.heldBy(peer as never) === queued, 2000, 'the answer to give its bytes back');
      peer.terminate();
      raw.destroy();
    });
  }

  it('destroys an SSE stream its client stopped reading past drainTimeout', async () => {
    const before = sockets.length;
    const raw = await rawConnect(ts.port);
    const sid = await openSseSession(raw, '/b');
    raw.stopReading();
    const socket = sockets[before]!;
    const peer = peers.get(sid)!;
    for (let i = 0; i < 128; i++) peer.send('v'.repeat(64 * KiB));
    await eventually(() => socket.destroyed, 3000, 'the unread stream to be destroyed');
    raw.destroy();
  });

  for (const transport of ['polling', 'interval-polling'] as const) {
    it(`keeps one unread answer per ${transport} session, however many connections poll without reading`, async () => {
      const sid = await openPollingSession(ts, '/b', transport);
      const peer = peers.get(sid)!;
      // 8 MiB queued: more than the kernel buffers of a loopback connection take.
      for (let i = 0; i < 128; i++) peer.send('u'.repeat(64 * KiB));
      let polls = 0;
      const count = (request: { url?: string }) => {
        if (request.url?.includes(sid)) polls++;
      };
      ts.server.httpServer!.on('request', count);
      // Twenty connections that poll and never read: each would get the whole queue.
      const raws = await Promise.all(Array.from({ length: 20 }, () => rawConnect(ts.port)));
      for (const raw of raws) {
        raw.stopReading();
        get(raw, `/b?transport=${transport}&sid=${sid}&ack=0`);
      }
      await eventually(() => polls === 20, 3000, 'the server to read the 20 polls');
      ts.server.httpServer!.off('request', count);
      await new Promise((resolve) => setImmediate(resolve));
      const held = heldBytes(sockets);
      assert.ok(held < 16 * MiB, `the server held ${(held / MiB).toFixed(1)} MiB for 20 unread polls of one session`);
      peer.terminate();
      for (const raw of raws) raw.destroy();
    });
  }

  it('answers in full a poll that comes after an answer its client abandoned', async () => {
    const sid = await openPollingSession(ts, '/b');
    const peer = peers.get(sid)!;
    for (let i = 0; i < 128; i++) peer.send('t'.repeat(64 * KiB));
    const abandoned = await rawConnect(ts.port);
    abandoned.stopReading();
    get(abandoned, `/b?transport=polling&sid=${sid}&ack=0`);
    await eventually(() => heldBytes(sockets) > 0, 2000, 'the first answer to be written');
    // The same client polls again (its first request timed out, say): it gets everything.
    const answer = await fetch(ts.url(`/b?transport=polling&sid=${sid}&ack=0`));
    assert.equal((await answer.arrayBuffer()).byteLength > 128 * 64 * KiB, true);
    peer.terminate();
    abandoned.destroy();
  });
});
