/**
 * The checks the Express and the Fastify examples share: the framework's routes and
 * Hotline's feed on one port, over WebSocket and HTTP transports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'hotline';

import { Inbox, NODE_TRANSPORTS, client, opened, refusedStatus } from './support.js';

export interface Running {
  readonly url: string;
  close(): Promise<void>;
}

export function frameworkSuite(name: string, start: (port: number) => Promise<Running>, maxText: number): void {
  describe(`examples/${name}`, () => {
    let app: Running;

    before(async () => {
      app = await start(0);
    });
    after(() => app.close());

    const notify = (body: string, type = 'application/json') =>
      fetch(`${app.url}/api/notify`, { method: 'POST', headers: { 'Content-Type': type }, body });

    it(`serves its own routes on the port Hotline shares`, async () => {
      const health = await fetch(`${app.url}/api/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { ok: true, websockets: 0 });
      const missing = await fetch(`${app.url}/api/nothing`);
      assert.equal(missing.status, 404);
      assert.match(missing.headers.get('content-type')!, /json/);
      // The browser client, served by Hotline on the same port.
      const bundle = await fetch(`${app.url}/hotline.js`);
      assert.equal(bundle.status, 200);
      assert.match(bundle.headers.get('content-type')!, /javascript/);
    });

    for (const transport of NODE_TRANSPORTS) {
      it(`pushes what a ${name} route publishes to the feed, over ${transport}`, async () => {
        const feed = client(`${app.url}/live`, transport);
        const inbox = new Inbox(feed);
        await opened(feed);
        assert.deepEqual(await inbox.next(), { type: 'hello', transport });
        feed.send('ping');
        assert.deepEqual(await inbox.next(), { type: 'echo', text: 'ping' });

        const response = await notify(JSON.stringify({ text: `deploy done (${transport})` }));
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { delivered: 1 });
        assert.deepEqual(await inbox.next(), { type: 'notification', text: `deploy done (${transport})` });
        feed.close();
      });
    }

    it('counts the WebSocket peers in its health route', async () => {
      const socket = new WebSocket(`${app.url.replace('http', 'ws')}/live`);
      await opened(socket);
      assert.deepEqual(await (await fetch(`${app.url}/api/health`)).json(), { ok: true, websockets: 1 });
      socket.close();
    });

    it('refuses a bad notification with 400, 413 or 415, as JSON, and delivers nothing', async () => {
      const feed = client(`${app.url}/live`, 'websocket');
      const inbox = new Inbox(feed);
      await opened(feed);
      await inbox.next();
      const bad = [
        notify('{"text":'),
        notify('{"text":""}'),
        notify(JSON.stringify({ text: 'x'.repeat(maxText + 1) })),
        notify('{"text":42}'),
        notify('{}'),
      ];
      for (const response of await Promise.all(bad)) {
        assert.equal(response.status, 400, await response.clone().text());
        assert.match(response.headers.get('content-type')!, /json/);
        assert.doesNotMatch(await response.text(), /node_modules|\n\s+at /, 'no stack trace');
      }
      const form = await notify('text=hi', 'application/x-www-form-urlencoded');
      assert.equal(form.status, 415);
      assert.match(form.headers.get('content-type')!, /json/);
      const large = await notify(JSON.stringify({ text: 'x'.repeat(20_000) }));
      assert.equal(large.status, 413);
      // A notification after the refusals is the first one the feed gets.
      await notify(JSON.stringify({ text: 'only this' }));
      assert.deepEqual(await inbox.next(), { type: 'notification', text: 'only this' });
      assert.deepEqual(inbox.pending, []);
      feed.close();
    });

    it('answers a WebSocket handshake outside Hotline\'s routes with 404', async () => {
      assert.equal(await refusedStatus(`${app.url.replace('http', 'ws')}/api/health`), 404);
    });
  });
}
