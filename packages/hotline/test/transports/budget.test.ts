import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Subscriber } from '../../src/pubsub/topic-tree.js';
import { Publication } from '../../src/websocket/publication.js';
import type { Peer } from '../../src/types.js';
import { type TestServer, startServer } from './helpers.js';
import { openPollingSession } from './raw-http.js';
import { eventually } from '../support/timing.js';

/**
 * Every session holds its share of the server's outbound budget (`maxOutboundBytes`):
 * its queued bytes, an overhead per queued message, and what its responses buffer. The
 * budget bounds the sum over all sessions, which their own limits only multiply.
 */

const KiB = 1024;

async function poll(ts: TestServer, sid: string, ack: number): Promise<{ status: number; code: string; body: string }> {
  const response = await fetch(ts.url(`/o?transport=polling&sid=${sid}&ack=${ack}`));
  const body = await response.text();
  let code = '';
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) code = JSON.parse(body).code;
  return { status: response.status, code, body };
}

describe("the server's outbound budget", () => {
  let ts: TestServer;
  const peers = new Map<string, Peer>();
  const closes = new Map<Peer, number>();
  const errors = new Map<Peer, string>();

  before(async () => {
    ts = await startServer(
      () => ({
        '/o': {
          open(peer: Peer) {
            peers.set((peer as unknown as { sid: string }).sid, peer);
          },
          close(peer: Peer, code: number) {
            closes.set(peer, code);
          },
          error(peer: Peer, error: Error & { code?: string }) {
            errors.set(peer, error.code ?? '');
          },
        },
      }),
      { maxQueue: 4096 * KiB, maxQueueMessages: 100_000, maxUnconfirmedPerKey: Infinity },
      { maxOutboundBytes: 1024 * KiB },
    );
  });
  after(() => ts.close());

  it('makes a session hold its queued bytes plus an overhead per message, and give them back once acknowledged', async () => {
    const sid = await openPollingSession(ts, '/o');
    const peer = peers.get(sid)!;
    for (let i = 0; i < 100; i++) peer.send('x');
    const held = ts.server.outbound.heldBy(peer as never);
    assert.ok(held >= 100 * (1 + 48) && held <= 100 * (1 + 256), `100 one-byte messages hold ${held} B`);
    await poll(ts, sid, 0);
    await poll(ts, sid, 100);
    await eventually(() => ts.server.outbound.heldBy(peer as never) === 0, 2000, 'the session to give its bytes back');
    peer.terminate();
  });

  it('returns dropped from send and deliver when the session is the largest holder of a full budget', async () => {
    const sid = await openPollingSession(ts, '/o');
    const peer = peers.get(sid)!;
    assert.equal(peer.send('a'.repeat(900 * KiB)), 'buffered');
    assert.equal(peer.send('b'.repeat(200 * KiB)), 'dropped');
    const publication = new Publication('t', Buffer.alloc(200 * KiB), true, 'e', 1);
    assert.equal((peer as unknown as Subscriber).deliver(publication), 'dropped');
    assert.equal(peer.readyState, 1, 'a refused send closes nothing');
    peer.terminate();
  });

  it('closes the session holding the most with 1013 to make room for another, frees its queue at once, and answers its next request 410 HL_ERR_SESSION_EVICTED', async () => {
    const big = await openPollingSession(ts, '/o');
    const small = await openPollingSession(ts, '/o');
    const bigPeer = peers.get(big)!;
    const smallPeer = peers.get(small)!;
    assert.equal(bigPeer.send('c'.repeat(800 * KiB)), 'buffered');
    assert.equal(smallPeer.send('d'.repeat(300 * KiB)), 'buffered');
    await eventually(() => closes.has(bigPeer), 2000, 'the largest session to be closed');
    assert.equal(closes.get(bigPeer), 1013);
    assert.equal(errors.get(bigPeer), 'HL_ERR_BUFFER_FULL');
    assert.equal(ts.server.outbound.heldBy(bigPeer as never), 0);
    assert.equal(bigPeer.bufferedAmount, 0);
    const late = await poll(ts, big, 0);
    assert.deepEqual([late.status, late.code], [410, 'HL_ERR_SESSION_EVICTED']);
    smallPeer.terminate();
  });

  it('bounds a fan-out to idle sessions by the budget, not by sessions × maxQueue', async () => {
    const subscribers: Peer[] = [];
    for (let i = 0; i < 100; i++) {
      const peer = peers.get(await openPollingSession(ts, '/o'))!;
      peer.subscribe('fan');
      subscribers.push(peer);
    }
    for (let i = 0; i < 2000; i++) ts.server.publish('fan', 'ten bytes!');
    let payload = 0;
    for (const peer of subscribers) payload += peer.bufferedAmount;
    assert.ok(ts.server.outbound.used <= 1024 * KiB, `the budget holds ${ts.server.outbound.used} B`);
    // 100 × 2,000 × 10 B = 2 MB of payload without the budget; the per-message overhead
    // counts too, so far less fits.
    assert.ok(payload < 256 * KiB, `the sessions queued ${payload} B of payload`);
    for (const peer of subscribers) peer.terminate();
  });
});
