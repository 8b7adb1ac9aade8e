import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { Server } from '../../src/server/server.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';
import { MemoryEngine } from '../../src/pubsub/memory-engine.js';
import type { RecoveryResult } from '../../src/pubsub/engine.js';
import type { StreamPosition } from '../../src/protocol/position.js';
import { EnvelopedPublication, Publication } from '../../src/websocket/publication.js';
import type { Envelope } from '../../src/protocol/session/envelope.js';
import type { Peer } from '../../src/types.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import { sharedDeflateCounters } from '../../src/websocket/shared-deflate.js';

async function waitFor(test: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !test(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(test());
}
import { type RawClient, rawClient, refusedUpgrade, sinceQuery } from './wire.js';

/** A memory engine whose history answers a turn late, after live publications were made: its replay overlaps them. */
class LateEngine extends MemoryEngine<Publication> {
  override async recover(topic: string, since: StreamPosition, limit: number): Promise<RecoveryResult<Publication>> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return super.recover(topic, since, limit);
  }
}

/** An engine whose broker is down when a client comes back. */
class DownEngine extends MemoryEngine<Publication> {
  override recover(): Promise<RecoveryResult<Publication>> {
    return Promise.reject(Object.assign(new Error('broker unreachable'), { code: 'HL_ERR_ENGINE_UNAVAILABLE' }));
  }
}

let servers: Server[] = [];
let clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.close({ timeout: 100 })));
  servers = [];
  clients = [];
});

/** A server whose `/news` route greets, then subscribes to `news` (and runs `also` in `open`). */
async function newsServer(engine?: MemoryEngine<Publication>, also?: (server: Server, peer: Peer) => void) {
  const server = new Server({ closeTimeout: 400, ...(engine ? { engine } : {}) });
  server.route('/news', {
    open(peer: Peer) {
      peer.send('hello');
      peer.subscribe('news');
      also?.(server, peer);
    },
  });
  enableHttpTransports(server);
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, url: (query = '') => `ws://127.0.0.1:${port}/news${query === '' ? '' : '?' + query}` };
}

async function client(url: string, options: Parameters<typeof rawClient>[1] = {}): Promise<RawClient> {
  const opened = await rawClient(url, options);
  clients.push(opened);
  return opened;
}

async function publishFive(server: Server): Promise<string> {
  let epoch = '';
  for (let i = 1; i <= 5; i++) epoch = (await server.topics.publishAcknowledged('news', Buffer.from(`n${i}`), false)).epoch;
  return epoch;
}

function summary(envelopes: Envelope[]): string[] {
  return envelopes.map((envelope) => {
    if (envelope.kind === 'message') return `m:${Buffer.from(envelope.data).toString()}`;
    if (envelope.kind === 'publication') return `p${envelope.offset}:${Buffer.from(envelope.data).toString()}`;
    const notice = envelope.notice;
    return notice.recovered ? `r:true:${notice.offset}:${notice.missed}` : `r:false:${notice.reason}`;
  });
}

describe('the envelope on WebSocket', () => {
  it('prefixes sends with m and publications with their position; a plain peer gets the bare bytes', async () => {
    const { server, url } = await newsServer();
    const enveloped = await client(url('envelope=1'));
    const plain = await client(url());
    await enveloped.until(1);
    await plain.until(1);
    const { epoch } = await server.topics.publishAcknowledged('news', Buffer.from('héllo'), false);
    server.publish('news', Buffer.from([1, 2]), true);
    await enveloped.until(3);
    await plain.until(3);
    assert.deepEqual(enveloped.frames.map((f) => [f.text, f.bytes.toString('latin1')]), [
      [true, 'mhello'],
      [true, `p1 ${epoch} 4:news` + Buffer.from('héllo').toString('latin1')],
      [false, `p2 ${epoch} 4:news\x01\x02`],
    ]);
    assert.deepEqual(plain.frames.map((f) => [f.text, f.bytes.toString('latin1')]), [
      [true, 'hello'],
      [true, Buffer.from('héllo').toString('latin1')],
      [false, '\x01\x02'],
    ]);
  });

  it('builds the enveloped bytes once per publication, shared by every enveloped subscriber', async () => {
    const publication = new Publication('news', Buffer.from('x'), false, 'e1', 7);
    assert.equal(publication.enveloped, publication.enveloped);
    assert.equal(publication.enveloped.data.toString(), 'p7 e1 4:newsx');
    assert.equal(publication.frame.subarray(2).toString(), 'x');
    // Plain and enveloped peers together: one frame of each kind per publication.
    const { server, url } = await newsServer();
    const all = [await client(url()), await client(url()), await client(url('envelope=1')), await client(url('envelope=1'))];
    await Promise.all(all.map((c) => c.until(1)));
    const frames = new Set<Buffer>();
    const restore: Array<() => void> = [];
    for (const prototype of [Publication.prototype, EnvelopedPublication.prototype]) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, 'frame')!;
      Object.defineProperty(prototype, 'frame', {
        configurable: true,
        get(this: Publication) {
          const built = descriptor.get!.call(this) as Buffer;
          frames.add(built);
          return built;
        },
      });
      restore.push(() => Object.defineProperty(prototype, 'frame', descriptor));
    }
    try {
      assert.equal(server.publish('news', 'shared'), 4);
    } finally {
      for (const undo of restore) undo();
    }
    assert.equal(frames.size, 2);
    await Promise.all(all.map((c) => c.until(2)));
    assert.deepEqual(all.map((c) => c.frames[1]!.bytes.toString().replace(/ [\w-]+ /, ' E ')), ['shared', 'shared', 'p1 E 4:newsshared', 'p1 E 4:newsshared']);
  });

  it('compresses an enveloped publication once for its subscribers without context takeover', async () => {
    const server = new Server({ closeTimeout: 400, perMessageDeflate: { serverNoContextTakeover: true, threshold: 64 } });
    server.route('/news', { open: (peer: Peer) => peer.subscribe('news') });
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const deflate = { perMessageDeflate: { serverNoContextTakeover: true } };
    const subscribers = [];
    for (let i = 0; i < 3; i++) subscribers.push(await client(`ws://127.0.0.1:${port}/news?envelope=1`, deflate));
    await waitFor(() => server.subscriberCount('news') === 3);
    const text = 'hotline '.repeat(2048);
    const before = sharedDeflateCounters.compressions;
    assert.equal(server.publish('news', text), 3);
    await Promise.all(subscribers.map((s) => s.until(1)));
    assert.equal(sharedDeflateCounters.compressions - before, 1);
    for (const s of subscribers) {
      const [envelope] = s.envelopes();
      assert.ok(envelope!.kind === 'publication');
      assert.equal(Buffer.from(envelope.data).toString(), text);
    }
  });

  it('prefixes a fragmented message once, on its first fragment', async () => {
    const { url } = await newsServer(undefined, (_s, peer) => {
      const ws = peer as WebSocketPeer;
      ws.sendFragment('ab', false, false);
      ws.sendFragment('cd', false, true);
      peer.send('after');
    });
    const enveloped = await client(url('envelope=1'));
    const plain = await client(url());
    await enveloped.until(3);
    await plain.until(3);
    assert.deepEqual(enveloped.frames.map((f) => f.bytes.toString()), ['mhello', 'mabcd', 'mafter']);
    assert.deepEqual(plain.frames.map((f) => f.bytes.toString()), ['hello', 'abcd', 'after']);
  });

  it('refuses a bad since with 400 HL_ERR_BAD_SINCE, on WebSocket and on the HTTP-session handshake', async () => {
    const { port } = await newsServer();
    for (const since of ['nope', '[["news","e",-1]]', '{"a":1}', '[["news","not an epoch!",1]]']) {
      const query = `envelope=1&since=${encodeURIComponent(since)}`;
      const refused = await refusedUpgrade(port, `/news?${query}`);
      assert.equal(refused.status, 400);
      assert.match(refused.body, /since/);
      const answer = await fetch(`http://127.0.0.1:${port}/news?transport=polling&${query}`);
      assert.equal(answer.status, 400);
      assert.equal(((await answer.json()) as { code: string }).code, 'HL_ERR_BAD_SINCE');
    }
    // Without envelope=1 the parameter is the application's own: not read.
    const plain = await client(`ws://127.0.0.1:${port}/news?since=nope`);
    await plain.until(1);
    assert.equal(plain.frames[0]!.bytes.toString(), 'hello');
  });
});

describe('recovery on WebSocket', () => {
  it('replays what came after the position, then the live feed', async () => {
    const { server, url } = await newsServer();
    const epoch = await publishFive(server);
    const back = await client(url(sinceQuery([['news', epoch, 2]])));
    await back.until(5);
    server.publish('news', 'n6');
    await back.until(6);
    assert.deepEqual(summary(back.envelopes()), ['m:hello', 'r:true:2:3', 'p3:n3', 'p4:n4', 'p5:n5', 'p6:n6']);
  });

  it('sends no duplicate and loses nothing while publishes race the replay', async () => {
    const engine = new LateEngine();
    const { server, url } = await newsServer(engine, (s) => {
      // Live publications made while the recovery reads history: held, then deduplicated.
      for (let i = 0; i < 3; i++) s.publish('news', `open${i}`);
    });
    const epoch = await publishFive(server);
    let racing = true;
    let published = 5;
    const race = (async () => {
      while (racing && published < 400) {
        server.publish('news', `live${++published}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const back = await client(url(sinceQuery([['news', epoch, 2]])));
    await new Promise((resolve) => setTimeout(resolve, 60));
    racing = false;
    await race;
    const last = server.topics instanceof MemoryEngine ? (await server.topics.publishAcknowledged('news', Buffer.from('end'), false)).offset : 0;
    await back.until(last - 2 + 2);
    const envelopes = back.envelopes();
    assert.equal(envelopes[0]!.kind, 'message');
    const notice = envelopes[1]!;
    assert.ok(notice.kind === 'recovery' && notice.notice.recovered);
    const offsets = envelopes.slice(2).map((e) => (e.kind === 'publication' ? e.offset : -1));
    assert.deepEqual(offsets, Array.from({ length: last - 2 }, (_, i) => i + 3));
  });

  it('tells recovered: false, reason epoch, for a position from another stream', async () => {
    const { server, url } = await newsServer();
    await publishFive(server);
    const back = await client(url(sinceQuery([['news', 'AAAAAAAAAAA', 3]])));
    await back.until(2);
    server.publish('news', 'n6');
    await back.until(3);
    const envelopes = back.envelopes();
    assert.ok(envelopes[1]!.kind === 'recovery');
    assert.deepEqual(envelopes[1].notice, { topic: 'news', recovered: false, reason: 'epoch', epoch: envelopes[1].notice.epoch, offset: 5 });
    assert.deepEqual(summary(envelopes), ['m:hello', 'r:false:epoch', 'p6:n6']);
  });

  it('tells recovered: false, reason retention, when the history no longer reaches back', async () => {
    const { server, url } = await newsServer(new MemoryEngine({ historySize: 2 }));
    const epoch = await publishFive(server);
    const back = await client(url(sinceQuery([['news', epoch, 1]])));
    await back.until(2);
    assert.deepEqual(summary(back.envelopes()), ['m:hello', 'r:false:retention']);
  });

  it('reports a recovery the engine cannot answer as a warning, and the history as lost (epoch)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { server, url } = await newsServer(new DownEngine());
      const epoch = await publishFive(server);
      const back = await client(url(sinceQuery([['news', epoch, 2]])));
      await back.until(2);
      assert.deepEqual(summary(back.envelopes()), ['m:hello', 'r:false:epoch']);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(warnings.some((w) => w.name === 'HotlineEngineWarning' && /broker unreachable/.test(w.message)));
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('uses a position once: subscribing again while it recovers replays nothing twice', async () => {
    const { server, url } = await newsServer(undefined, (_s, peer) => {
      peer.unsubscribe('news');
      peer.subscribe('news');
    });
    const epoch = await publishFive(server);
    const back = await client(url(sinceQuery([['news', epoch, 4]])));
    server.publish('news', 'n6');
    await back.until(2);
    // The position was used by the first subscription: one notice, one replay.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const seen = summary(back.envelopes());
    assert.equal(seen.filter((s) => s === 'p5:n5').length, 1);
    assert.equal(seen.filter((s) => s.startsWith('r:')).length, 1);
  });
});
