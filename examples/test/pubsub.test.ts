import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'hotline';

import { start, MAX_MESSAGE, MAX_TOPICS, type PubSubServer } from '../pubsub/server.js';
import { Inbox, NODE_TRANSPORTS, client, closed, opened } from './support.js';

describe('examples/pubsub', () => {
  let app: PubSubServer;

  before(async () => {
    app = await start(0);
  });
  after(() => app.close());

  async function member(transport: (typeof NODE_TRANSPORTS)[number] = 'websocket') {
    const connection = client(`${app.url}/pubsub`, transport);
    const inbox = new Inbox(connection);
    await opened(connection);
    const ask = async (request: object) => {
      connection.send(JSON.stringify(request));
      return inbox.next((m) => m.type !== 'message');
    };
    return { connection, inbox, ask };
  }

  function publish(topic: string, body: string, type = 'application/json') {
    return fetch(`${app.url}/publish?topic=${encodeURIComponent(topic)}`, { method: 'POST', headers: { 'Content-Type': type }, body });
  }

  for (const transport of NODE_TRANSPORTS) {
    it(`delivers a topic to its subscribers only, until they unsubscribe, over ${transport}`, async () => {
      const news = `news-${transport}`;
      const sports = `sports-${transport}`;
      const sub = await member(transport);
      const pub = await member();
      assert.deepEqual(await sub.ask({ op: 'subscribe', topic: news }), { type: 'subscribed', topic: news });
      assert.deepEqual(await sub.ask({ op: 'subscribe', topic: sports }), { type: 'subscribed', topic: sports });

      assert.deepEqual(await pub.ask({ op: 'publish', topic: news, data: { headline: 'é中😀' } }), { type: 'published', topic: news, delivered: 1 });
      assert.deepEqual(await sub.inbox.next(), { type: 'message', topic: news, data: { headline: 'é中😀' } });

      // The backend publishes with server.publish, through the HTTP endpoint.
      const response = await publish(sports, '[1,2,3]');
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { delivered: 1 });
      assert.deepEqual(await sub.inbox.next(), { type: 'message', topic: sports, data: [1, 2, 3] });

      assert.deepEqual(await sub.ask({ op: 'unsubscribe', topic: news }), { type: 'unsubscribed', topic: news });
      assert.deepEqual(await pub.ask({ op: 'publish', topic: news, data: 'missed' }), { type: 'published', topic: news, delivered: 0 });
      // Sent after it: if the news had reached the subscriber, it would be here first.
      assert.deepEqual(await (await publish(sports, '"still here"')).json(), { delivered: 1 });
      assert.deepEqual(await sub.inbox.next(), { type: 'message', topic: sports, data: 'still here' });
      assert.deepEqual(pub.inbox.pending, [], 'the publisher is not sent its own publications');
      sub.connection.close();
      pub.connection.close();
    });
  }

  it('answers every malformed request with an error and stays open', async () => {
    const { ask, connection, inbox } = await member();
    const cases: Array<[string, string]> = [
      ['{"op":', 'not JSON'],
      ['[1]', 'not a JSON object'],
      ['null', 'not a JSON object'],
      ['{"op":"shout","topic":"a"}', 'op: subscribe, unsubscribe or publish'],
      ['{"op":"subscribe"}', 'topic: 1-64 letters, digits, or _ . : -'],
      ['{"op":"subscribe","topic":"has space"}', 'topic: 1-64 letters, digits, or _ . : -'],
      [`{"op":"subscribe","topic":"${'t'.repeat(65)}"}`, 'topic: 1-64 letters, digits, or _ . : -'],
      ['{"op":"publish","topic":"a"}', 'publish needs data'],
    ];
    for (const [text, error] of cases) {
      connection.send(text);
      assert.deepEqual(await inbox.next(), { type: 'error', error }, text);
    }
    assert.deepEqual(await ask({ op: 'subscribe', topic: 'after-errors' }), { type: 'subscribed', topic: 'after-errors' });
    connection.close();
  });

  it(`refuses a subscription past ${MAX_TOPICS} topics, and re-subscribing is free`, async () => {
    const { ask, connection } = await member();
    for (let i = 0; i < MAX_TOPICS; i++) assert.equal((await ask({ op: 'subscribe', topic: `t${i}` })).type, 'subscribed');
    assert.deepEqual(await ask({ op: 'subscribe', topic: 'one-more' }), { type: 'error', error: `at most ${MAX_TOPICS} topics per connection` });
    assert.equal((await ask({ op: 'subscribe', topic: 't0' })).type, 'subscribed');
    assert.equal((await ask({ op: 'unsubscribe', topic: 't0' })).type, 'unsubscribed');
    assert.equal((await ask({ op: 'subscribe', topic: 'one-more' })).type, 'subscribed');
    connection.close();
  });

  it('closes with 1003 on a binary message', async () => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/pubsub`);
    await opened(socket);
    socket.send(new Uint8Array([0x7b]));
    assert.deepEqual(await closed(socket), { code: 1003, reason: 'JSON text only' });
  });

  it('answers a bad publish request with a precise status', async () => {
    assert.equal((await publish('has space', '1')).status, 400);
    assert.equal((await publish('a', '{nope')).status, 400);
    assert.equal((await publish('a', '1', 'text/plain')).status, 415);
    assert.equal((await publish('a', JSON.stringify('x'.repeat(MAX_MESSAGE)))).status, 413);
    const get = await fetch(`${app.url}/publish?topic=a`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${app.url}/elsewhere`)).status, 404);
    assert.deepEqual(await (await publish('nobody-listens', '1')).json(), { delivered: 0 });
  });
});
