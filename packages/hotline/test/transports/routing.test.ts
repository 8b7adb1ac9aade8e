import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

import { WebSocket } from '../../src/client/websocket.js';
import { Server } from '../../src/server/server.js';
import { decodeBatch } from '../../src/protocol/session/wire.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import { endToEndHeaders, FORWARDED_HEADER, withForwarded } from '../../src/transports/forward.js';
import { checkInstanceId, MAX_SESSION_ID_LENGTH, newSessionId, sessionOwner } from '../../src/transports/session-owner.js';
import type { Peer } from '../../src/types.js';
import { RawPeer, acceptFor, upgradeRequest } from '../support/raw.js';
import { roundRobin } from '../support/round-robin.js';
import { SharedDirectory } from '../support/shared-directory.js';
import { FAST, FAST_SERVER, HTTP_ONLY, closed, next, open, recorder, waitFor } from './helpers.js';

/**
 * No sticky sessions: two nodes share a node directory; a session made on A whose
 * requests reach B is served by A through B, over every transport and the upgrade.
 */

interface Node {
  server: Server;
  transports: HttpTransports;
  port: number;
  url(path: string): string;
  /** Peers opened on this node. */
  peers: Peer[];
}

/** A port free now (the server that takes it listens on it at once). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function startNode(directory: SharedDirectory): Promise<Node> {
  const port = await freePort();
  const server = new Server({ ...FAST_SERVER, engine: directory.engine(), advertise: `http://127.0.0.1:${port}` });
  const peers: Peer[] = [];
  server.route('/r', {
    open(peer) {
      peers.push(peer);
    },
    message(peer, data, isBinary) {
      peer.send(data, isBinary);
    },
  });
  const transports = enableHttpTransports(server, { ...FAST, hold: 3000 });
  await server.listen(port, '127.0.0.1');
  return { server, transports, port, url: (path) => `http://127.0.0.1:${port}${path}`, peers };
}

async function stopNode(node: Node): Promise<void> {
  node.transports.close();
  await node.server.close({ timeout: 200 });
}

/** Counts the requests that reach `node` forwarded by another node, until `stop`. */
function forwardedTo(node: Node): { readonly count: number; stop(): void } {
  let count = 0;
  const listener = (request: IncomingMessage) => {
    if (request.headers[FORWARDED_HEADER] !== undefined) count++;
  };
  node.server.httpServer!.on('request', listener);
  return {
    get count() {
      return count;
    },
    stop: () => node.server.httpServer!.off('request', listener),
  };
}

/** Sends every request that names a session to `port`; the handshake goes where it was aimed. */
function sessionRequestsTo(port: number): typeof fetch {
  return (input, init) => {
    const url = new URL(String(input instanceof Request ? input.url : input));
    if (url.searchParams.has('sid')) url.port = String(port);
    return fetch(url, init);
  };
}

async function openLongPoll(node: Node): Promise<string> {
  const answer = await fetch(node.url('/r?transport=long-polling'));
  const batch = decodeBatch(new Uint8Array(await answer.arrayBuffer()), { allowOpen: true });
  return (batch.packets[0] as { handshake: { sid: string } }).handshake.sid;
}

async function errorOf(answer: Response): Promise<[number, string]> {
  const body = (await answer.json()) as { code: string };
  return [answer.status, body.code];
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

describe('session ids name their owner', () => {
  it('parses the owner out of the ids a node makes, and nothing out of any other string', () => {
    const sid = newSessionId('abcdEFGH_-12');
    assert.match(sid, /^abcdEFGH_-12\.[A-Za-z0-9_-]{24}$/);
    assert.equal(sessionOwner(sid), 'abcdEFGH_-12');
    assert.ok(newSessionId('A'.repeat(16)).length <= MAX_SESSION_ID_LENGTH);
    assert.equal(sessionOwner(newSessionId('A'.repeat(16))), 'A'.repeat(16));
    for (const bad of ['', 'nodot', 'short.' + 'x'.repeat(24), 'abcdEFGH.' + 'x'.repeat(23), 'abcdEFGH.' + 'x'.repeat(25), 'abcd EFGH.' + 'x'.repeat(24), 'a.b.' + 'x'.repeat(24), 'x'.repeat(24)]) {
      assert.equal(sessionOwner(bad), undefined, bad);
    }
  });

  it('refuses an engine whose instance id would make ids no node can route', () => {
    for (const bad of ['short', 'has.dot.in.it', 'x'.repeat(17), 42, undefined]) {
      assert.throws(() => checkInstanceId(bad), { code: 'HL_ERR_INVALID_ARGUMENT' });
    }
    assert.equal(checkInstanceId('abcdefgh'), 'abcdefgh');
  });

  it('checks the advertise option: an http(s) origin, one spelling', () => {
    for (const bad of ['nope', 'ftp://h:21', 'http://h:1/path', 'http://h:1/?q', 'http://u:p@h:1', 42]) {
      assert.throws(() => new Server({ advertise: bad as string }), { code: 'HL_ERR_INVALID_ARGUMENT' }, String(bad));
    }
    assert.equal(new Server({ advertise: 'http://h:80/' }).options.advertise, 'http://h');
    assert.equal(new Server({ advertise: 'https://10.0.0.5:8443' }).options.advertise, 'https://10.0.0.5:8443');
    assert.equal(new Server().options.advertise, null);
  });

  it('forwards end-to-end header fields only (RFC 9110 §7.6.1)', () => {
    const kept = endToEndHeaders({
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'x-hop': 'a',
      te: 'trailers',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      'proxy-connection': 'keep-alive',
      [FORWARDED_HEADER]: '1',
      'content-type': 'application/octet-stream',
      'last-event-id': '7',
      cookie: 'a=b',
    });
    assert.deepEqual(kept, { 'content-type': 'application/octet-stream', 'last-event-id': '7', cookie: 'a=b' });
  });
});

describe('routing to the owning node (no sticky sessions)', () => {
  const directory = new SharedDirectory();
  let a: Node;
  let b: Node;

  before(async () => {
    a = await startNode(directory);
    b = await startNode(directory);
  });
  after(async () => {
    await Promise.all([stopNode(a), stopNode(b)]);
  });

  it('advertises each node at listen', () => {
    assert.equal(directory.urls.get(a.server.topics.instanceId), `http://127.0.0.1:${a.port}`);
    assert.equal(directory.urls.get(b.server.topics.instanceId), `http://127.0.0.1:${b.port}`);
  });

  for (const transport of HTTP_ONLY) {
    it(`serves a ${transport} session made on A whose every later request goes to B, messages both ways`, async () => {
      const forwarded = forwardedTo(a);
      const client = open(a.url('/r'), transport, { fetch: sessionRequestsTo(b.port) });
      const rec = recorder(client);
      await next(client, 'open');
      assert.equal(sessionOwner(client.sid), a.server.topics.instanceId);
      for (let i = 0; i < 20; i++) client.send(i % 5 === 4 ? new Uint8Array([i]) : `m-${i}`);
      const got = await rec.until(20);
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? 'hex:' + i.toString(16).padStart(2, '0') : `m-${i}`)));
      // The server pushes too, outside any echo.
      const peer = a.peers.at(-1)!;
      peer.send('pushed');
      await rec.until(21);
      assert.equal(rec.messages[20], 'pushed');
      // A body of many chunks, both ways, streamed through B.
      const big = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
      client.send(big);
      await rec.until(22, 15_000);
      assert.ok(rec.messages[21] === big, 'the large message came back whole');
      assert.equal(a.transports.session(client.sid)?.transport, transport);
      assert.equal(b.transports.size, 0, 'B holds no session');
      assert.ok(forwarded.count > 0, 'B forwarded the requests to A');
      forwarded.stop();
      client.close();
      await closed(client);
    });
  }

  it("tunnels a session's WebSocket upgrade sent to B to A, which carries the session", async () => {
    const Tunnelled = class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[], options?: object) {
        const target = new URL(String(url));
        target.port = String(b.port);
        super(target, protocols, options);
      }
    };
    const client = open(a.url('/r'), 'long-polling', { upgrade: true, WebSocket: Tunnelled as never });
    const rec = recorder(client);
    const upgraded = next(client, 'transport', 8000, (event: Event & { transport?: string }) => event.transport === 'websocket');
    await next(client, 'open');
    await upgraded;
    const peer = a.peers.at(-1)!;
    assert.equal(peer.transport, 'websocket');
    client.send('over the tunnel');
    await rec.until(1);
    assert.equal(rec.messages[0], 'over the tunnel');
    assert.equal(b.transports.size, 0);
    client.close(4001, 'done');
    await closed(client);
    await waitFor(() => a.transports.size === 0, 'the session gone from A');
  });

  it('tunnels an upgrade that reached B through its HTTP server (a head in two reads) byte for byte', async () => {
    const sid = await openLongPoll(a);
    let viaHttpServer = 0;
    const spy = () => viaHttpServer++;
    b.server.httpServer!.on('upgrade', spy);
    const peer = await RawPeer.connect(b.port);
    const head = upgradeRequest(`/r?transport=websocket&sid=${sid}`, KEY);
    // Half a head, then the rest: B's listener hands the connection to its HTTP server.
    peer.write(head.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    peer.write(head.slice(20));
    const answer = await peer.readHead();
    b.server.httpServer!.off('upgrade', spy);
    assert.equal(viaHttpServer, 1, "through B's HTTP server");
    assert.equal(answer.status, 101);
    assert.equal(answer.headers['sec-websocket-accept'], acceptFor(KEY));
    peer.send({ opcode: 1, payload: Buffer.from('probe') });
    const probe = await peer.readFrame();
    assert.deepEqual([probe.opcode, probe.payload.toString()], [1, 'probe']);
    // The owner sees the client leave when the tunnel's client side goes.
    peer.socket.destroy();
    await waitFor(() => a.transports.session(sid)?.transport === 'long-polling', 'the session still on long polling at A');
  });

  it('answers a session whose owner the directory does not know as an unknown session, upgrades too', async () => {
    const sid = newSessionId('nobodyHere12');
    const lookups = directory.lookups;
    const answer = await fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`));
    assert.deepEqual(await errorOf(answer), [400, 'HL_ERR_UNKNOWN_SESSION']);
    assert.equal(directory.lookups, lookups + 1);
    const peer = await RawPeer.connect(b.port);
    peer.write(upgradeRequest(`/r?transport=websocket&sid=${sid}`, KEY));
    assert.equal((await peer.readHead()).status, 400);
    peer.socket.destroy();
  });

  it('answers a session whose listed owner refuses connections (its process is gone) as unknown, at once', async () => {
    const dead = await freePort();
    directory.urls.set('deadNode1234', `http://127.0.0.1:${dead}`);
    try {
      const sid = newSessionId('deadNode1234');
      const answer = await fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`));
      assert.deepEqual(await errorOf(answer), [400, 'HL_ERR_UNKNOWN_SESSION']);
      const post = await fetch(b.url(`/r?transport=polling&sid=${sid}&ack=0`), { method: 'POST', body: '1;t2:hi' });
      assert.deepEqual(await errorOf(post), [400, 'HL_ERR_UNKNOWN_SESSION']);
      const peer = await RawPeer.connect(b.port);
      peer.write(upgradeRequest(`/r?transport=websocket&sid=${sid}`, KEY));
      assert.equal((await peer.readHead()).status, 400);
      peer.socket.destroy();
    } finally {
      directory.forget('deadNode1234');
    }
  });

  it('answers 502 HL_ERR_NODE_UNREACHABLE when the owner is listed but does not answer, or the directory fails', async () => {
    // Accepts and resets every connection: a node there, but not answering.
    const resetting = net.createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
    directory.urls.set('deadNode1234', `http://127.0.0.1:${(resetting.address() as AddressInfo).port}`);
    const sid = newSessionId('deadNode1234');
    const answer = await fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`));
    assert.deepEqual(await errorOf(answer), [502, 'HL_ERR_NODE_UNREACHABLE']);
    const post = await fetch(b.url(`/r?transport=polling&sid=${sid}&ack=0`), { method: 'POST', body: '1;t2:hi' });
    assert.deepEqual(await errorOf(post), [502, 'HL_ERR_NODE_UNREACHABLE']);
    resetting.close();
    directory.failing = new Error('broker down');
    try {
      // An owner never looked up: nothing remembered to answer from.
      const other = newSessionId('failingNode1');
      const failed = await fetch(b.url(`/r?transport=long-polling&sid=${other}&ack=0`));
      assert.deepEqual(await errorOf(failed), [502, 'HL_ERR_NODE_UNREACHABLE']);
      const peer = await RawPeer.connect(b.port);
      peer.write(upgradeRequest(`/r?transport=websocket&sid=${other}`, KEY));
      assert.equal((await peer.readHead()).status, 502);
      peer.socket.destroy();
    } finally {
      directory.failing = null;
      directory.forget('deadNode1234');
    }
  });

  it('looks an owner up once for many requests: concurrent ones share a lookup, later ones reuse it', async () => {
    // A node of its own, so that nothing is remembered from the other tests.
    const c = await startNode(directory);
    try {
      const sids = await Promise.all(Array.from({ length: 25 }, () => openLongPoll(a)));
      const post = (sid: string) => fetch(c.url(`/r?transport=long-polling&sid=${sid}&ack=0`), { method: 'POST', body: '1;t2:hi' });
      const lookups = directory.lookups;
      const concurrent = await Promise.all(sids.slice(0, 20).map(post));
      for (const sid of sids.slice(20)) concurrent.push(await post(sid));
      for (const answer of concurrent) {
        assert.ok(answer.ok, `${answer.status} ${await answer.clone().text()}`);
        await answer.arrayBuffer();
      }
      assert.equal(directory.lookups - lookups, 1, 'one lookup for 25 requests');
    } finally {
      await stopNode(c);
    }
  });

  it('tells the owner who connected to the forwarding node: Forwarded (RFC 7239), appended to what came', async () => {
    const sid = await openLongPoll(a);
    const seen: Array<string | undefined> = [];
    const listener = (request: IncomingMessage) => {
      if (request.headers[FORWARDED_HEADER] !== undefined) seen.push(request.headers.forwarded);
    };
    a.server.httpServer!.on('request', listener);
    try {
      const post = (headers: Record<string, string>) => fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`), { method: 'POST', body: '1;t2:hi', headers });
      await (await post({})).arrayBuffer();
      await (await post({ Forwarded: 'for=192.0.2.60;proto=https' })).arrayBuffer();
    } finally {
      a.server.httpServer!.off('request', listener);
    }
    assert.deepEqual(seen, ['for=127.0.0.1;proto=http', 'for=192.0.2.60;proto=https, for=127.0.0.1;proto=http']);
    const v6 = { remoteAddress: '::1' } as Socket;
    assert.equal(withForwarded(['for=a', 'for=b'], v6), 'for=a, for=b, for="[::1]";proto=http');
  });

  it('never forwards a request that was forwarded already: unknown session where it lands', async () => {
    const sid = await openLongPoll(a);
    const lookups = directory.lookups;
    const answer = await fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`), { headers: { [FORWARDED_HEADER]: '1' } });
    assert.deepEqual(await errorOf(answer), [400, 'HL_ERR_UNKNOWN_SESSION']);
    assert.equal(directory.lookups, lookups, 'no lookup made');
    // The owner itself serves it as usual.
    const poll = fetch(a.url(`/r?transport=long-polling&sid=${sid}&ack=0`), { headers: { [FORWARDED_HEADER]: '1' } });
    a.transports.session(sid)!.send('here');
    assert.equal((await poll).status, 200);
  });

  it("closes the owner's connection when the client aborts a proxied long poll; the session lives on", async () => {
    const sid = await openLongPoll(a);
    const held: Socket[] = [];
    const spy = (request: IncomingMessage) => {
      if (request.headers[FORWARDED_HEADER] !== undefined && request.url!.includes(sid)) held.push(request.socket);
    };
    a.server.httpServer!.on('request', spy);
    try {
      const controller = new AbortController();
      const poll = fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`), { signal: controller.signal });
      await waitFor(() => held.length === 1, 'the forwarded poll on A');
      // Response headers are only sent with the answer: the poll is held on A.
      controller.abort();
      await assert.rejects(poll);
      await waitFor(() => held[0]!.destroyed, "A's side of the forwarded poll closed");
      assert.ok(a.transports.session(sid) !== undefined, 'the session is still on A');
      // The next poll, through B again, gets what A sends meanwhile.
      const again = fetch(b.url(`/r?transport=long-polling&sid=${sid}&ack=0`));
      await waitFor(() => held.length === 2, 'the second forwarded poll');
      a.transports.session(sid)!.send('after the abort');
      const body = new Uint8Array(await (await again).arrayBuffer());
      assert.deepEqual(decodeBatch(body).packets.map((p) => (p as { kind: string; data?: Uint8Array }).kind), ['t']);
    } finally {
      a.server.httpServer!.off('request', spy);
    }
  });

  for (const transport of ['long-polling', 'sse'] as const) {
    it(`a client behind a round-robin balancer in front of A and B works on ${transport}`, async () => {
      const balancer = await roundRobin([a.port, b.port]);
      const forwarded = [forwardedTo(a), forwardedTo(b)];
      try {
        const client = open(`http://127.0.0.1:${balancer.port}/r`, transport);
        const rec = recorder(client);
        await next(client, 'open');
        const owner = sessionOwner(client.sid) === a.server.topics.instanceId ? a : b;
        for (let i = 0; i < 30; i++) client.send(`rr-${i}`);
        await rec.until(30);
        owner.peers.at(-1)!.send('from the owner');
        await rec.until(31);
        assert.deepEqual(rec.messages, [...Array.from({ length: 30 }, (_, i) => `rr-${i}`), 'from the owner']);
        assert.ok(balancer.counts[0]! > 0 && balancer.counts[1]! > 0, `both nodes got connections: ${balancer.counts.join(', ')}`);
        assert.ok(forwarded[0]!.count + forwarded[1]!.count > 0, 'some requests landed on the other node and were routed');
        for (const f of forwarded) f.stop();
        client.close();
        await closed(client);
      } finally {
        await balancer.close();
      }
    });
  }
});
