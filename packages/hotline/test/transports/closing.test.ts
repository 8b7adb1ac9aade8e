import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { Peer } from '../../src/types.js';
import { HTTP_ONLY, closed, next, open, startServer, waitFor } from './helpers.js';
import { openPollingSession, openSseSession, rawConnect, readUntil } from './raw-http.js';

/**
 * The end of a session: a close from the server completes as soon as the client has the
 * close packet (not at the close timeout), and a shutdown resolves once every session's
 * `close` hook has run.
 */

/** Counts the timers the transports' own code creates (the client's are not counted). */
function spyOnTransportTimers(): { created: number; restore(): void } {
  const real = globalThis.setTimeout;
  const spy = { created: 0, restore: () => void (globalThis.setTimeout = real) };
  globalThis.setTimeout = ((...args: Parameters<typeof real>) => {
    if (/dist\/src\/transports\//.test(new Error().stack ?? '')) spy.created++;
    return real(...args);
  }) as typeof real;
  return spy;
}

describe('closing HTTP sessions', () => {
  for (const transport of HTTP_ONLY) {
    it(`runs the close hook as soon as the client has the close packet, not at the close timeout, over ${transport}`, async () => {
      const closes: Array<[number, string, number]> = [];
      let peer: Peer | null = null;
      // A close timeout of 5 s: the close hook must not wait for it.
      const ts = await startServer(
        () => ({
          '/c': {
            open(p: Peer) {
              peer = p;
            },
            close(_p: Peer, code: number, reason: string) {
              closes.push([code, reason, Date.now()]);
            },
          },
        }),
        {},
        { closeTimeout: 5000 },
      );
      try {
        const client = open(ts.url('/c'), transport);
        await next(client, 'open');
        peer!.close(4000, 'server says bye');
        const event = await closed(client);
        const seen = Date.now();
        assert.deepEqual([event.code, event.reason], [4000, 'server says bye']);
        await waitFor(() => closes.length > 0, 'the close hook', 2000);
        assert.equal(closes.length, 1, 'the close hook ran');
        assert.deepEqual(closes[0]!.slice(0, 2), [4000, 'server says bye']);
        assert.ok(closes[0]![2] - seen < 1000, `the close hook ran ${closes[0]![2] - seen} ms after the client saw the close`);
      } finally {
        await ts.close();
      }
    });
  }

  it('ends an SSE session at once when its client hangs up the stream after the close packet, without acknowledging it', async () => {
    const closes: Array<[number, number]> = [];
    let peer: Peer | null = null;
    const ts = await startServer(
      () => ({
        '/c': {
          open(p: Peer) {
            peer = p;
          },
          close(_p: Peer, code: number) {
            closes.push([code, Date.now()]);
          },
        },
      }),
      {},
      { closeTimeout: 5000 },
    );
    try {
      const raw = await rawConnect(ts.port);
      await openSseSession(raw, '/c');
      peer!.close(4000, 'bye');
      await readUntil(raw, /data: c4000 bye\n\n/);
      const seen = Date.now();
      raw.destroy();
      await waitFor(() => closes.length > 0, 'the close hook', 2000);
      assert.equal(closes[0]?.[0], 4000);
      assert.ok(closes[0]![1] - seen < 1000, `the close hook ran ${closes[0]![1] - seen} ms after the client hung up`);
    } finally {
      await ts.close();
    }
  });

  it('resolves server.close() once every session ran its close hook: 1001 for those that fetched their close, 1006 for those dropped at the timeout', async () => {
    const closes = new Map<string, number>();
    const ts = await startServer(
      () => ({
        '/c': {
          close(p: Peer, code: number) {
            closes.set((p as unknown as { sid: string }).sid, code);
          },
        },
      }),
      {},
      { closeTimeout: 5000 },
    );
    const client = open(ts.url('/c'), 'long-polling', { reconnect: false });
    await next(client, 'open');
    const live = client.sid;
    // A session whose client never comes back for its close packet.
    const gone = await openPollingSession(ts, '/c');
    const started = Date.now();
    const timers = spyOnTransportTimers();
    try {
      await ts.server.close({ timeout: 600 });
    } finally {
      timers.restore();
      client.close();
    }
    const took = Date.now() - started;
    assert.equal(closes.get(live), 1001);
    assert.equal(closes.get(gone), 1006);
    assert.ok(took < 600 + 500, `server.close() took ${took} ms for a 600 ms timeout`);
    // Events, not a poll every few milliseconds: at most the one deadline timer.
    assert.ok(timers.created <= 1, `the shutdown created ${timers.created} timers`);
  });
});
