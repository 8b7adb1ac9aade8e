import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Peer } from '../../src/types.js';
import { type TestServer, next, open, recorder, sleep, startServer, waitFor } from './helpers.js';

/**
 * The notes tell two kinds of polling apart: short polling waits `interval` after each
 * answer before asking again; fixed-interval ("Ajax") polling asks on a clock, whether or
 * not the last answer came back. A slow network shows the difference.
 */

/**
 * A fetch whose poll answers take `delay()` ms; records when each poll starts and ends,
 * how many are in flight, and resolves `polls(n)` when the n-th poll has ended — the
 * tests wait on the polls themselves, and assert on how they relate, not on how many fit
 * in a second of wall clock.
 */
function slowPolls(delay: () => number) {
  const polls: Array<{ start: number; end: number; overlap: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let ended = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const slowFetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const isPoll = (init?.method ?? 'GET') === 'GET' && url.searchParams.has('sid');
    if (!isPoll) return fetch(input, init);
    inFlight++;
    const record = { start: Date.now(), end: 0, overlap: inFlight };
    polls.push(record);
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const response = await fetch(input, init);
      const body = await response.arrayBuffer();
      await sleep(delay());
      return new Response(body, { status: response.status, headers: response.headers });
    } finally {
      inFlight--;
      record.end = Date.now();
      ended++;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (ended < waiters[i]!.n) continue;
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
  };
  /** Resolves once `n` polls have ended. */
  const ends = (n: number) => new Promise<void>((resolve) => (ended >= n ? resolve() : waiters.push({ n, resolve })));
  return { fetch: slowFetch, polls, ends, maxInFlight: () => maxInFlight };
}

describe('short polling against fixed-interval polling', () => {
  let ts: TestServer;
  let peer: Peer | null = null;
  before(async () => {
    ts = await startServer(() => ({
      '/p': {
        open(p: Peer) {
          peer = p;
        },
      },
    }));
  });
  after(() => ts.close());

  it('polling waits the interval after each answer: one request at a time, spaced by answer time + interval', async () => {
    const net = slowPolls(() => 150);
    const client = open(ts.url('/p'), 'polling', { interval: 50, fetch: net.fetch });
    await next(client, 'open');
    await net.ends(4);
    client.close();
    const polls = net.polls.filter((p) => p.end > 0);
    assert.equal(net.maxInFlight(), 1);
    for (let i = 1; i < polls.length; i++) {
      const wait = polls[i]!.start - polls[i - 1]!.end;
      assert.ok(wait >= 40, `waited ${wait} ms after an answer, not the 50 ms interval`);
    }
  });

  it('interval-polling fires on its clock whether or not the answer came back, overlapping up to maxOverlap', async () => {
    const net = slowPolls(() => 150);
    const client = open(ts.url('/p'), 'interval-polling', { interval: 50, fetch: net.fetch, maxOverlap: 3 });
    await next(client, 'open');
    await net.ends(8);
    client.close();
    // Answers take three intervals: a client that waited for them would never overlap.
    assert.equal(net.maxInFlight(), 3);
    assert.ok(net.polls.filter((p) => p.overlap > 1).length >= 4, 'polls start while earlier ones are out');
    assert.ok(net.polls.every((p) => p.overlap <= 3), 'never more than maxOverlap');
  });

  it('interval-polling delivers in order and once when answers overlap and come back out of order', async () => {
    let flip = 0;
    const net = slowPolls(() => (flip++ % 2 === 0 ? 120 : 10));
    const client = open(ts.url('/p'), 'interval-polling', { interval: 20, fetch: net.fetch, maxOverlap: 4 });
    const rec = recorder(client);
    await next(client, 'open');
    for (let i = 0; i < 40; i++) {
      peer!.send(`m${i}`);
      await sleep(7);
    }
    await rec.until(40);
    // Delivery is in order: a repeat of anything would come before a last message.
    peer!.send('last');
    const got = (await rec.until(41)).slice();
    client.close();
    assert.equal(got.pop(), 'last');
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => `m${i}`));
    assert.ok(net.maxInFlight() > 1, 'the answers did overlap');
  });
});

describe('reconnection when the server no longer has the session', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer(() => ({ '/r': { message: (peer: Peer, data: Buffer, isBinary: boolean) => void peer.send(data, isBinary) } }), { sessionTimeout: 400, interval: 40 });
  });
  after(() => ts.close());

  it('reports the lost session with close(1006, willReconnect) and opens a new one', async () => {
    let down = false;
    const client = open(ts.url('/r'), 'long-polling', {
      reconnect: { minDelay: 100, maxDelay: 200 },
      fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => (down ? Promise.reject(new TypeError('network down')) : fetch(input, init)),
    });
    await next(client, 'open');
    const first = client.sid;
    down = true;
    ts.server.httpServer!.closeAllConnections();
    const lost = await next<Event & { code: number; willReconnect: boolean }>(client, 'close', 5000);
    assert.equal(lost.code, 1006);
    assert.equal(lost.willReconnect, true);
    down = false;
    await next(client, 'open', 5000);
    assert.notEqual(client.sid, first);
    const rec = recorder(client);
    client.send('new session');
    assert.deepEqual(await rec.until(1), ['new session']);
    client.close();
  });
});

describe('graceful shutdown', () => {
  it('closes HTTP sessions with 1001 as it does WebSocket peers, and refuses new ones', async () => {
    const closes: Array<[string, number]> = [];
    const ts = await startServer(() => ({ '/s': { close: (peer: Peer, code: number) => void closes.push([peer.transport, code]) } }));
    const clients = (['websocket', 'long-polling', 'sse', 'polling'] as const).map((t) => open(ts.url('/s'), t, { reconnect: false }));
    await Promise.all(clients.map((c) => next(c, 'open')));
    const events = clients.map((c) => next<Event & { code: number }>(c, 'close', 5000));
    const shutdown = ts.server.close({ timeout: 1000 });
    const refused = await fetch(ts.url('/s?transport=polling')).catch(() => null);
    if (refused !== null) assert.equal(refused.status, 503);
    assert.deepEqual((await Promise.all(events)).map((e) => e.code), [1001, 1001, 1001, 1001]);
    await shutdown;
    await waitFor(() => closes.length === 4, 'every close hook');
    assert.deepEqual(closes.map(([, code]) => code), [1001, 1001, 1001, 1001]);
  });
});
