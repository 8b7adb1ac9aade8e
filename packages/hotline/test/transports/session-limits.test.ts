import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';

import { decodeBatch } from '../../src/protocol/session/wire.js';
import type { Peer } from '../../src/types.js';
import { type TestServer, next, open, startServer } from './helpers.js';
import { eventually } from '../support/timing.js';

/**
 * Creating sessions must not be a cheap global lockout: a session nobody came back for
 * costs little and expires fast, and one client (by `sessionKey`, the address unless the
 * application says otherwise) can hold only so many sessions, unconfirmed ones tightly.
 */

async function handshake(ts: TestServer, key: string, path = '/s'): Promise<{ status: number; code: string; retryAfter: string | null; sid: string }> {
  const response = await fetch(ts.url(`${path}?transport=polling`), { headers: { 'x-client': key } });
  const body = new Uint8Array(await response.arrayBuffer());
  if (response.status !== 200) {
    return { status: response.status, code: JSON.parse(Buffer.from(body).toString()).code, retryAfter: response.headers.get('retry-after'), sid: '' };
  }
  const first = decodeBatch(body, { allowOpen: true }).packets[0] as { handshake: { sid: string } };
  return { status: 200, code: '', retryAfter: null, sid: first.handshake.sid };
}

async function confirm(ts: TestServer, key: string, sid: string): Promise<number> {
  const response = await fetch(ts.url(`/s?transport=polling&sid=${sid}&ack=0`), { headers: { 'x-client': key } });
  await response.arrayBuffer();
  return response.status;
}

describe('session limits per client', () => {
  let ts: TestServer;
  const closes = new Map<string, [number, string]>();

  before(async () => {
    ts = await startServer(
      () => ({
        '/s': {
          close(peer: Peer, code: number, reason: string) {
            closes.set((peer as unknown as { sid: string }).sid, [code, reason]);
          },
        },
        '/keyless': {},
      }),
      {
        maxUnconfirmedPerKey: 3,
        maxSessionsPerKey: 5,
        confirmTimeout: 400,
        sessionKey: (request: IncomingMessage) => {
          const key = request.headers['x-client'];
          if (key === 'throw') throw new Error('a bug in sessionKey');
          return typeof key === 'string' ? key : (request.socket.remoteAddress ?? '');
        },
      },
    );
  });
  after(() => ts.close());

  it('answers 429 HL_ERR_TOO_MANY_UNCONFIRMED with Retry-After past maxUnconfirmedPerKey handshakes never followed up, for that key only', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await handshake(ts, 'flood')).status, 200);
    const refused = await handshake(ts, 'flood');
    assert.deepEqual([refused.status, refused.code], [429, 'HL_ERR_TOO_MANY_UNCONFIRMED']);
    assert.ok(Number(refused.retryAfter) >= 1, `Retry-After: ${refused.retryAfter}`);
    assert.equal((await handshake(ts, 'someone else')).status, 200);
  });

  it('expires a session whose client never came back after the handshake at confirmTimeout, not sessionTimeout, and frees its place', async () => {
    const { sid } = await handshake(ts, 'forgetful');
    const started = Date.now();
    await eventually(() => closes.has(sid), 2500, 'the unconfirmed session to expire');
    assert.deepEqual(closes.get(sid), [1006, 'session expired']);
    // sessionTimeout is 3 s in these tests.
    assert.ok(Date.now() - started < 2000);
    for (let i = 0; i < 3; i++) assert.equal((await handshake(ts, 'forgetful')).status, 200);
  });

  it('keeps a confirmed session past confirmTimeout', async () => {
    const { sid } = await handshake(ts, 'faithful');
    assert.equal(await confirm(ts, 'faithful', sid), 200);
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(closes.has(sid), false);
    assert.ok(ts.transports.session(sid) !== undefined);
  });

  it('keeps an SSE session whose stream stays open past confirmTimeout', async () => {
    const client = open(ts.url('/keyless'), 'sse');
    await next(client, 'open');
    const sid = client.sid;
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(ts.transports.session(sid) !== undefined, 'the session is alive');
    client.close();
  });

  it('answers 429 HL_ERR_TOO_MANY_SESSIONS_FOR_KEY past maxSessionsPerKey live sessions of one key', async () => {
    for (let i = 0; i < 5; i++) {
      const { status, sid } = await handshake(ts, 'busy');
      assert.equal(status, 200);
      assert.equal(await confirm(ts, 'busy', sid), 200);
    }
    const refused = await handshake(ts, 'busy');
    assert.deepEqual([refused.status, refused.code], [429, 'HL_ERR_TOO_MANY_SESSIONS_FOR_KEY']);
    assert.ok(refused.retryAfter !== null);
  });

  it('answers 500 when sessionKey throws, and creates no session', async () => {
    const before = ts.transports.size;
    const answer = await handshake(ts, 'throw');
    assert.equal(answer.status, 500);
    assert.equal(ts.transports.size, before);
  });
});
