import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { decodeBatch, encodeBatch } from '../../src/protocol/session/wire.js';
import { type Peer, UpgradeRejection } from '../../src/types.js';
import { type TestServer, next, open, recorder, startServer, waitFor } from './helpers.js';

/**
 * Every bad request gets a precise status and a stable code, and leaves every other
 * session as it was.
 */

const text = (s: string) => new TextEncoder().encode(s);

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; code: string; headers: Headers; body: Uint8Array }> {
  const response = await fetch(url, init);
  const body = new Uint8Array(await response.arrayBuffer());
  let code = '';
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) code = JSON.parse(Buffer.from(body).toString()).code;
  return { status: response.status, code, headers: response.headers, body };
}

/** Opens a session by hand; returns its id and the first batch. */
async function handshake(ts: TestServer, transport = 'polling', path = '/e'): Promise<string> {
  const answer = await call(ts.url(`${path}?transport=${transport}`));
  assert.equal(answer.status, 200);
  const batch = decodeBatch(answer.body, { allowOpen: true });
  const first = batch.packets[0]!;
  assert.equal(first.kind, 'o');
  return (first as { handshake: { sid: string } }).handshake.sid;
}

function post(ts: TestServer, sid: string, body: Uint8Array | string, transport = 'polling', extra = ''): ReturnType<typeof call> {
  return call(ts.url(`/e?transport=${transport}&sid=${sid}${extra}`), { method: 'POST', body: (typeof body === 'string' ? text(body) : body) as NonNullable<RequestInit['body']> });
}

describe('bad input to the HTTP transports', () => {
  let ts: TestServer;
  const peers: Peer[] = [];
  const closes = new Map<Peer, [number, string]>();
  const drains = new Map<Peer, number>();

  before(async () => {
    ts = await startServer(
      () => ({
        '/e': {
          open(peer: Peer) {
            peers.push(peer);
          },
          message(peer: Peer, data: Buffer, isBinary: boolean) {
            peer.send(data, isBinary);
          },
          close(peer: Peer, code: number, reason: string) {
            closes.set(peer, [code, reason]);
          },
          drain(peer: Peer) {
            drains.set(peer, (drains.get(peer) ?? 0) + 1);
          },
        },
        '/guarded': {
          upgrade(request) {
            if (request.headers['x-token'] !== 'yes') throw new UpgradeRejection(401, 'no token', { 'WWW-Authenticate': 'Token' });
            return { data: { token: true } };
          },
        },
        '/buggy': {
          upgrade() {
            throw new Error('a bug in the hook');
          },
        },
      }),
      // Sessions opened by hand, from one address, many never used: the limits per
      // client have tests of their own (session-limits.test.ts).
      { maxSessions: 50, maxBody: 1024, sessionTimeout: 600, hold: 400, heartbeat: 200, maxQueue: 100, maxQueueMessages: 1000, maxUnconfirmedPerKey: Infinity },
    );
  });
  after(() => ts.close());

  it('answers an unknown transport with 400 HL_ERR_UNKNOWN_TRANSPORT', async () => {
    const answer = await call(ts.url('/e?transport=carrier-pigeon'));
    assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_UNKNOWN_TRANSPORT']);
  });

  it('answers transport=websocket without an Upgrade with 426, naming WebSocket', async () => {
    const answer = await call(ts.url('/e?transport=websocket'));
    assert.equal(answer.status, 426);
    assert.equal(answer.headers.get('upgrade'), 'websocket');
  });

  it('answers an unknown session with 400 HL_ERR_UNKNOWN_SESSION, on GET and POST', async () => {
    const sid = 'A'.repeat(24);
    assert.equal((await call(ts.url(`/e?transport=polling&sid=${sid}`))).code, 'HL_ERR_UNKNOWN_SESSION');
    const answer = await post(ts, sid, '1;t1:x');
    assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_UNKNOWN_SESSION']);
  });

  it('does not know a session on another path', async () => {
    const sid = await handshake(ts);
    const answer = await call(ts.url(`/guarded?transport=polling&sid=${sid}`));
    assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_UNKNOWN_SESSION']);
  });

  it('answers a session polled over another transport with 400 HL_ERR_TRANSPORT_MISMATCH', async () => {
    const sid = await handshake(ts);
    const answer = await call(ts.url(`/e?transport=long-polling&sid=${sid}`));
    assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_TRANSPORT_MISMATCH']);
  });

  it('expires a session whose client stops coming back: close(1006, "session expired"), then 410', async () => {
    const sid = await handshake(ts);
    const peer = peers.at(-1)!;
    await waitFor(() => closes.has(peer), 'the session to expire (sessionTimeout 600 ms, swept every 100 ms)');
    assert.deepEqual(closes.get(peer), [1006, 'session expired']);
    assert.equal(peer.readyState, 3);
    const answer = await call(ts.url(`/e?transport=polling&sid=${sid}`));
    assert.deepEqual([answer.status, answer.code], [410, 'HL_ERR_SESSION_EXPIRED']);
  });

  it('answers a request on a closed session with 410 HL_ERR_SESSION_CLOSED', async () => {
    const sid = await handshake(ts);
    assert.equal((await post(ts, sid, '1;c9:1000 done')).status, 204);
    assert.deepEqual(closes.get(peers.at(-1)!), [1000, 'done']);
    const answer = await call(ts.url(`/e?transport=polling&sid=${sid}`));
    assert.deepEqual([answer.status, answer.code], [410, 'HL_ERR_SESSION_CLOSED']);
  });

  it('refuses a body over maxBody with 413 HL_ERR_BODY_TOO_LARGE, declared or streamed', async () => {
    const sid = await handshake(ts);
    const declared = await post(ts, sid, encodeBatch(1, [{ kind: 'b', data: new Uint8Array(2000) }]));
    assert.deepEqual([declared.status, declared.code], [413, 'HL_ERR_BODY_TOO_LARGE']);
    // Chunked, no Content-Length: counted as it arrives.
    const status = await new Promise<[number, string]>((resolve, reject) => {
      const request = http.request(ts.url(`/e?transport=polling&sid=${sid}`), { method: 'POST' }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve([response.statusCode!, JSON.parse(body).code]));
      });
      request.on('error', reject);
      request.write('1;b2000:');
      for (let i = 0; i < 4; i++) request.write(Buffer.alloc(500));
      request.end();
    });
    assert.deepEqual(status, [413, 'HL_ERR_BODY_TOO_LARGE']);
    // The session is untouched and still works.
    assert.equal((await post(ts, sid, '1;t2:ok')).status, 204);
  });

  for (const [what, body] of [
    ['a body that is not a batch', 'hello'],
    ['a truncated packet', '1;t9:abc'],
    ['ill-formed UTF-8 in a text packet', Buffer.concat([Buffer.from('1;t2:'), Buffer.from([0xff, 0xfe])])],
    ['a sequence gap', '5;t1:x'],
    ['sequence zero', '0;t1:x'],
    ['a close with a reserved code', '1;c9:1006 gone'],
    ['an open packet from a client', '1;o2:{}'],
  ] as const) {
    it(`refuses ${what} with 400 HL_ERR_MALFORMED_BODY and delivers nothing from it`, async () => {
      const sid = await handshake(ts);
      const answer = await post(ts, sid, typeof body === 'string' ? body : new Uint8Array(body));
      assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_MALFORMED_BODY']);
      // Nothing was delivered, and the session goes on from sequence 1.
      assert.equal(peers.at(-1)!.bufferedAmount, 0);
      assert.equal((await post(ts, sid, '1;t2:ok')).status, 204);
      const poll = decodeBatch((await call(ts.url(`/e?transport=polling&sid=${sid}`))).body);
      assert.deepEqual(poll.packets.map((p) => Buffer.from((p as { data: Uint8Array }).data).toString()), ['ok']);
    });
  }

  it('refuses a bad ack with 400 HL_ERR_MALFORMED_QUERY: not a number, or past the last message sent', async () => {
    const sid = await handshake(ts);
    for (const ack of ['x', '-1', '01', '1.5', '3']) {
      const answer = await call(ts.url(`/e?transport=polling&sid=${sid}&ack=${ack}`));
      assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_MALFORMED_QUERY'], ack);
    }
  });

  it('refuses other methods with 405 and Allow', async () => {
    const answer = await call(ts.url('/e?transport=polling'), { method: 'PUT', body: 'x' });
    assert.deepEqual([answer.status, answer.code], [405, 'HL_ERR_METHOD_NOT_ALLOWED']);
    assert.equal(answer.headers.get('allow'), 'GET, POST, OPTIONS');
  });

  it('refuses a POST without a session id', async () => {
    const answer = await call(ts.url('/e?transport=polling'), { method: 'POST', body: '1;t1:x' });
    assert.deepEqual([answer.status, answer.code], [400, 'HL_ERR_UNKNOWN_SESSION']);
  });

  it('refuses a second concurrent long-poll with 400 HL_ERR_CONCURRENT_POLL; the first stays held', async () => {
    const sid = await handshake(ts, 'long-polling');
    const peer = peers.at(-1)!;
    const first = call(ts.url(`/e?transport=long-polling&sid=${sid}&ack=0`));
    await waitFor(() => ts.transports.session(sid)?.link?.open === true, 'the first long-poll to be held');
    const second = await call(ts.url(`/e?transport=long-polling&sid=${sid}&ack=0`));
    assert.deepEqual([second.status, second.code], [400, 'HL_ERR_CONCURRENT_POLL']);
    peer.send('for the first');
    const answer = await first;
    assert.equal(answer.status, 200);
    assert.equal(Buffer.from(answer.body).toString(), '1;t13:for the first');
  });

  it('answers a held long-poll empty after the hold time', async () => {
    const sid = await handshake(ts, 'long-polling');
    const started = Date.now();
    const answer = await call(ts.url(`/e?transport=long-polling&sid=${sid}&ack=0`));
    const held = Date.now() - started;
    assert.equal(Buffer.from(answer.body).toString(), '1;');
    assert.ok(held >= 300 && held < 1500, `held ${held} ms for a 400 ms hold`);
  });

  it('sends heartbeats on an idle SSE stream', async () => {
    const controller = new AbortController();
    const response = await fetch(ts.url('/e?transport=sse'), { signal: controller.signal });
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    let seen = '';
    const started = Date.now();
    while (!seen.includes(':\n\n') && Date.now() - started < 2000) seen += Buffer.from((await reader.read()).value!).toString();
    controller.abort();
    assert.match(seen, /event: session\n/);
    assert.match(seen, /\n:\n\n/);
  });

  it('answers every transport request with Cache-Control: no-store', async () => {
    for (const transport of ['polling', 'long-polling', 'interval-polling']) {
      const answer = await call(ts.url(`/e?transport=${transport}`));
      assert.equal(answer.headers.get('cache-control'), 'no-store', transport);
    }
    assert.equal((await call(ts.url('/e?transport=nope'))).headers.get('cache-control'), 'no-store');
  });

  it('makes session ids of at least 128 random bits, all different', async () => {
    const sids = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const sid = await handshake(ts);
      // The owner's instance id, a dot, then 24 base64url characters: 144 random bits.
      const [owner, random] = sid.split('.');
      assert.equal(owner, ts.server.topics.instanceId);
      assert.match(random!, /^[A-Za-z0-9_-]{24}$/);
      sids.add(sid);
      await post(ts, sid, '1;c5:1000 ');
    }
    assert.equal(sids.size, 30);
  });

  it('refuses a handshake the upgrade hook rejects, with its status and headers; a throwing hook gets 500', async () => {
    const refused = await call(ts.url('/guarded?transport=polling'));
    assert.deepEqual([refused.status, refused.code], [401, 'HL_ERR_HANDSHAKE_REJECTED']);
    assert.equal(refused.headers.get('www-authenticate'), 'Token');
    const accepted = await call(ts.url('/guarded?transport=polling'), { headers: { 'x-token': 'yes' } });
    assert.equal(accepted.status, 200);
    const buggy = await call(ts.url('/buggy?transport=sse'));
    assert.deepEqual([buggy.status, buggy.code], [500, 'HL_ERR_HANDSHAKE_REJECTED']);
  });

  it('answers 503 HL_ERR_TOO_MANY_SESSIONS with Retry-After past maxSessions, and recovers', async () => {
    const sids: string[] = [];
    let refused: Awaited<ReturnType<typeof call>> | null = null;
    for (let i = 0; i < 60 && refused === null; i++) {
      const answer = await call(ts.url('/e?transport=polling'));
      if (answer.status === 200) sids.push((decodeBatch(answer.body, { allowOpen: true }).packets[0] as { handshake: { sid: string } }).handshake.sid);
      else refused = answer;
    }
    assert.ok(refused !== null);
    assert.deepEqual([refused.status, refused.code], [503, 'HL_ERR_TOO_MANY_SESSIONS']);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(ts.transports.size, 50);
    for (const sid of sids) await post(ts, sid, '1;c5:1000 ');
    assert.equal((await call(ts.url('/e?transport=polling'))).status, 200);
  });

  it('bounds the queue: send returns dropped when full, and drain fires once the client has caught up', async () => {
    const sid = await handshake(ts);
    const peer = peers.at(-1)!;
    assert.equal(peer.send('x'.repeat(60)), 'buffered');
    assert.equal(peer.send('y'.repeat(60)), 'dropped'); // maxQueue is 100 bytes
    assert.equal(peer.bufferedAmount, 60);
    const poll = decodeBatch((await call(ts.url(`/e?transport=polling&sid=${sid}&ack=0`))).body);
    assert.equal(poll.packets.length, 1);
    await call(ts.url(`/e?transport=polling&sid=${sid}&ack=1`));
    assert.equal(peer.bufferedAmount, 0);
    assert.equal(drains.get(peer), 1);
    assert.equal(peer.send('z'), 'buffered');
  });

  it('lets no bad request disturb another session', async () => {
    const good = open(ts.url('/e'), 'long-polling');
    const rec = recorder(good);
    await next(good, 'open');
    good.send('before');
    await rec.until(1);
    const sid = good.sid;
    await Promise.all([
      call(ts.url(`/e?transport=long-polling&sid=${sid}&ack=99`)),
      call(ts.url(`/e?transport=polling&sid=${sid}`)),
      post(ts, sid, 'garbage', 'long-polling'),
      post(ts, sid, encodeBatch(1, [{ kind: 'b', data: new Uint8Array(5000) }]), 'long-polling'),
      call(ts.url(`/e?transport=long-polling&sid=${sid}`), { method: 'DELETE' }),
    ]);
    good.send('after');
    assert.deepEqual(await rec.until(2), ['before', 'after']);
    good.close();
  });
});

describe('CORS', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer(() => ({ '/e': {} }), { cors: { origins: ['https://app.example'], credentials: true } });
  });
  after(() => ts.close());

  it('answers an allowed preflight with 204 and what may be sent', async () => {
    const answer = await call(ts.url('/e?transport=polling'), { method: 'OPTIONS', headers: { Origin: 'https://app.example' } });
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(answer.headers.get('access-control-allow-credentials'), 'true');
    assert.match(answer.headers.get('access-control-allow-methods')!, /POST/);
  });

  it('refuses a preflight from another origin with 403 HL_ERR_ORIGIN_NOT_ALLOWED', async () => {
    const answer = await call(ts.url('/e?transport=polling'), { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    assert.deepEqual([answer.status, answer.code], [403, 'HL_ERR_ORIGIN_NOT_ALLOWED']);
  });

  it('adds the CORS headers to an allowed request only', async () => {
    const ok = await call(ts.url('/e?transport=polling'), { headers: { Origin: 'https://app.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(ok.headers.get('vary'), 'Origin');
    const other = await call(ts.url('/e?transport=polling'), { headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});
