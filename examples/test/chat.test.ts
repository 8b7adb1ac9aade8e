import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'hotline';

import { start, MAX_TEXT, type ChatServer } from '../chat/server.js';
import { Inbox, NODE_TRANSPORTS, client, closed, once, opened, refusedStatus } from './support.js';

describe('examples/chat', () => {
  let chat: ChatServer;
  let ws = '';

  before(async () => {
    chat = await start(0);
    ws = chat.url.replace('http', 'ws');
  });
  after(() => chat.close());

  function join(room: string, name: string, transport: (typeof NODE_TRANSPORTS)[number] = 'websocket') {
    const member = client(`${chat.url}/chat?${new URLSearchParams({ room, name })}`, transport);
    return { client: member, inbox: new Inbox(member), opened: opened(member) };
  }

  for (const transport of NODE_TRANSPORTS) {
    it(`carries a room's lines to everyone in it, and only to them, over ${transport}`, async () => {
      const room = `r-${transport}`;
      const alice = join(room, 'alice', transport);
      await alice.opened;
      assert.deepEqual(await alice.inbox.next(), { type: 'welcome', room, name: 'alice', members: ['alice'] });
      assert.equal(alice.client.transport, transport);

      const bob = join(room, 'bob');
      const elsewhere = join(`${room}-other`, 'carol', transport);
      await Promise.all([bob.opened, elsewhere.opened]);
      assert.deepEqual(await bob.inbox.next(), { type: 'welcome', room, name: 'bob', members: ['alice', 'bob'] });
      assert.deepEqual(await alice.inbox.next(), { type: 'joined', name: 'bob', members: ['alice', 'bob'] });

      bob.client.send('  hello, alice  ');
      alice.client.send('hi bob');
      for (const inbox of [alice.inbox, bob.inbox]) {
        const first = await inbox.next((m) => m.type === 'message');
        const second = await inbox.next((m) => m.type === 'message');
        assert.deepEqual(
          [first, second].map(({ name, text }) => ({ name, text })).sort((a, b) => String(a.name).localeCompare(String(b.name))),
          [{ name: 'alice', text: 'hi bob' }, { name: 'bob', text: 'hello, alice' }],
        );
        assert.equal(typeof first.at, 'number');
      }

      bob.client.close(1000, 'bye');
      assert.deepEqual(await alice.inbox.next(), { type: 'left', name: 'bob', members: ['alice'] });
      // The other room heard nothing but its own welcome.
      assert.deepEqual(elsewhere.inbox.pending.map((m) => m.type), ['welcome']);
      alice.client.close();
      elsewhere.client.close();
    });
  }

  it('answers an empty or too long line with an error to the sender alone', async () => {
    const alice = join('limits', 'alice');
    const bob = join('limits', 'bob');
    await Promise.all([alice.opened, bob.opened]);
    await alice.inbox.next((m) => m.type === 'joined');
    alice.client.send('   ');
    assert.deepEqual(await alice.inbox.next((m) => m.type === 'error'), { type: 'error', error: 'empty message' });
    alice.client.send('x'.repeat(MAX_TEXT + 1));
    assert.deepEqual(await alice.inbox.next((m) => m.type === 'error'), { type: 'error', error: `message over ${MAX_TEXT} characters` });
    alice.client.send('x'.repeat(MAX_TEXT));
    assert.equal((await bob.inbox.next((m) => m.type === 'message')).text, 'x'.repeat(MAX_TEXT));
    assert.equal(bob.inbox.pending.filter((m) => m.type !== 'welcome').length, 0, 'bob saw neither refused line');
    alice.client.close();
    bob.client.close();
  });

  it('closes with 1003 on a binary message and with 1009 on one over the payload limit', async () => {
    const binary = new WebSocket(`${ws}/chat?name=b`);
    await opened(binary);
    binary.send(new Uint8Array([1, 2, 3]));
    assert.deepEqual(await closed(binary), { code: 1003, reason: 'text only' });

    const huge = new WebSocket(`${ws}/chat?name=h`);
    await opened(huge);
    huge.send('x'.repeat(64 * 1024));
    assert.equal((await closed(huge)).code, 1009);
  });

  it('refuses a bad room or name with 400, over WebSocket and HTTP alike', async () => {
    assert.equal(await refusedStatus(`${ws}/chat?room=Not%20A%20Room&name=a`), 400);
    assert.equal(await refusedStatus(`${ws}/chat?name=`), 400);
    assert.equal(await refusedStatus(`${ws}/chat?name=${encodeURIComponent('a\u0007b')}`), 400);
    assert.equal(await refusedStatus(`${ws}/chat?name=${'n'.repeat(25)}`), 400);
    const sse = await fetch(`${chat.url}/chat?transport=sse&room=UPPER&name=a`);
    assert.equal(sse.status, 400);
    assert.match(await sse.text(), /room: 1-32 lowercase/);
  });

  it('refuses a page from another origin with 403, and lets its own in', async () => {
    assert.equal(await refusedStatus(`${ws}/chat?name=eve`, { Origin: 'http://evil.example' }), 403);
    assert.equal(await refusedStatus(`${ws}/chat?name=eve`, { Origin: 'not a url' }), 403);
    const own = new WebSocket(`${ws}/chat?name=own`, [], { headers: { Origin: chat.url } });
    await opened(own);
    own.close();
    await once(own, 'close');
  });

  it('serves the page, its script and style, and nothing else', async () => {
    const page = await fetch(`${chat.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    const script = await fetch(`${chat.url}/app.js`);
    assert.match(script.headers.get('content-type')!, /javascript/);
    assert.ok((await script.text()).length > 1000, 'the bundle holds the client');
    assert.equal((await fetch(`${chat.url}/style.css`)).status, 200);
    assert.equal((await fetch(`${chat.url}/nope`)).status, 404);
    const post = await fetch(`${chat.url}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
