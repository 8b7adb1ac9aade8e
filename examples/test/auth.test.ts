import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'hotline';

import { start, COOKIE, EXPIRED, LOGGED_OUT, type AuthServer } from '../auth/server.js';
import { Inbox, NODE_TRANSPORTS, client, closed, opened, refusedStatus } from './support.js';

describe('examples/auth', () => {
  let app: AuthServer;
  let ws = '';

  before(async () => {
    app = await start(0);
    ws = app.url.replace('http', 'ws');
  });
  after(() => app.close());

  function post(path: string, body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) {
    return fetch(`${app.url}${path}`, { method: 'POST', headers, body });
  }

  async function login(user: string, password: string, server = app): Promise<{ token: string; cookie: string }> {
    const response = await fetch(`${server.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user, password }) });
    assert.equal(response.status, 200);
    const { token } = (await response.json()) as { token: string };
    return { token, cookie: response.headers.get('set-cookie')!.split(';')[0]! };
  }

  it('logs a user in with a token in the body and in an HttpOnly cookie', async () => {
    const response = await post('/login', JSON.stringify({ user: 'alice', password: 'wonderland' }));
    assert.equal(response.status, 200);
    const { token, expires } = (await response.json()) as { token: string; expires: number };
    assert.match(token, /^[\w-]{24}$/);
    assert.ok(expires > Date.now());
    const cookie = response.headers.get('set-cookie')!;
    assert.ok(cookie.startsWith(`${COOKIE}=${token};`));
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
  });

  it('refuses a bad login with 401, 400, 405, 413 or 415', async () => {
    assert.equal((await post('/login', JSON.stringify({ user: 'alice', password: 'nope' }))).status, 401);
    assert.equal((await post('/login', JSON.stringify({ user: 'mallory', password: 'wonderland' }))).status, 401);
    assert.equal((await post('/login', '{"user":')).status, 400);
    assert.equal((await post('/login', JSON.stringify({ user: 'alice' }))).status, 400);
    assert.equal((await post('/login', JSON.stringify({ user: 'alice', password: 1 }))).status, 400);
    assert.equal((await post('/login', 'user=alice', { 'Content-Type': 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await post('/login', JSON.stringify({ user: 'x'.repeat(5000), password: '' }))).status, 413);
    const get = await fetch(`${app.url}/login`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${app.url}/elsewhere`)).status, 404);
  });

  it('refuses a connection without a valid token with 401, over WebSocket and HTTP alike', async () => {
    assert.equal(await refusedStatus(`${ws}/live`), 401);
    assert.equal(await refusedStatus(`${ws}/live?token=forged`), 401);
    assert.equal(await refusedStatus(`${ws}/live`, { Authorization: 'Bearer forged' }), 401);
    assert.equal(await refusedStatus(`${ws}/live`, { Cookie: `${COOKIE}=forged` }), 401);
    for (const transport of ['sse', 'long-polling']) {
      const response = await fetch(`${app.url}/live?transport=${transport}`);
      assert.equal(response.status, 401);
      assert.match(response.headers.get('www-authenticate')!, /^Bearer/);
    }
  });

  it('refuses a cookie sent by a page of another origin with 403', async () => {
    const { cookie } = await login('bob', 'builder');
    assert.equal(await refusedStatus(`${ws}/live`, { Cookie: cookie, Origin: 'https://evil.example' }), 403);
    const own = new WebSocket(`${ws}/live`, [], { headers: { Cookie: `theme=dark; ${cookie}`, Origin: app.url } });
    const inbox = new Inbox(own);
    await opened(own);
    assert.deepEqual(await inbox.next(), { type: 'welcome', name: 'bob', role: 'member' });
    own.close();
  });

  for (const transport of NODE_TRANSPORTS) {
    it(`carries who the user is into every hook, over ${transport}`, async () => {
      const alice = await login('alice', 'wonderland');
      const bob = await login('bob', 'builder');
      // The token as a browser page cannot send it over WebSocket: in the query; as a
      // header otherwise.
      const asAlice = transport === 'websocket' ? client(`${app.url}/live?token=${alice.token}`, transport) : client(`${app.url}/live`, transport, { headers: { Authorization: `Bearer ${alice.token}` } });
      const asBob = client(`${app.url}/live`, 'websocket', { webSocketOptions: { headers: { Cookie: bob.cookie } } });
      const aliceInbox = new Inbox(asAlice);
      const bobInbox = new Inbox(asBob);
      await Promise.all([opened(asAlice), opened(asBob)]);
      assert.deepEqual(await aliceInbox.next(), { type: 'welcome', name: 'alice', role: 'admin' });
      assert.deepEqual(await bobInbox.next(), { type: 'welcome', name: 'bob', role: 'member' });

      asAlice.send('whoami');
      assert.deepEqual(await aliceInbox.next(), { type: 'whoami', name: 'alice', role: 'admin' });
      asBob.send('hello');
      assert.deepEqual(await aliceInbox.next((m) => m.from === 'bob'), { type: 'said', from: 'bob', text: 'hello' });
      asBob.send('/announce lunch');
      assert.deepEqual(await bobInbox.next(), { type: 'error', error: 'admins only' });
      asAlice.send('/announce release at 5');
      for (const inbox of [aliceInbox, bobInbox]) {
        assert.deepEqual(await inbox.next((m) => m.type === 'announcement'), { type: 'announcement', from: 'alice', text: 'release at 5' });
      }

      // Logging out closes the login's connections, and its token no longer opens one.
      const aliceClosed = closed(asAlice);
      const logout = await post('/logout', '', { Authorization: `Bearer ${alice.token}` });
      assert.equal(logout.status, 204);
      assert.match(logout.headers.get('set-cookie')!, /Max-Age=0/);
      assert.deepEqual(await aliceClosed, { code: LOGGED_OUT, reason: 'logged out' });
      assert.equal(await refusedStatus(`${ws}/live?token=${alice.token}`), 401);
      assert.equal((await post('/logout', '', { Authorization: `Bearer ${alice.token}` })).status, 401);
      assert.equal(asBob.readyState, 1, "bob's login is untouched");
      asBob.close();
    });
  }

  it('closes the connections of a login when it expires, with 4002', async () => {
    const short = await start(0, '127.0.0.1', { ttl: 300 });
    try {
      const { token } = await login('bob', 'builder', short);
      const socket = new WebSocket(`${short.url.replace('http', 'ws')}/live?token=${token}`);
      await opened(socket);
      assert.deepEqual(await closed(socket, 3000), { code: EXPIRED, reason: 'session expired' });
      assert.equal(await refusedStatus(`${short.url.replace('http', 'ws')}/live?token=${token}`), 401);
    } finally {
      await short.close();
    }
  });

  it('refuses a ttl that is not a positive integer', async () => {
    await assert.rejects(start(0, '127.0.0.1', { ttl: 0 }), TypeError);
    await assert.rejects(start(0, '127.0.0.1', { ttl: Number.NaN }), TypeError);
  });
});
