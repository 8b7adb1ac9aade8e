import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { connectSim } from '../src/sim-client.js';

/**
 * The simulated clients run the client's own drivers over a node:http fetch: what they
 * send is what a browser would, headers included, and what they receive comes through
 * the session core (once, in order). A scripted server checks the requests.
 */

interface Seen {
  method: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function scriptedServer(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let polls = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url!, 'http://x');
      const query = Object.fromEntries(url.searchParams);
      seen.push({ method: request.method!, query, headers: request.headers, body: Buffer.concat(chunks).toString('latin1') });
      if (request.method === 'POST') {
        response.writeHead(204).end();
        return;
      }
      if (query.sid === undefined) {
        const handshake = JSON.stringify({ sid: 'S', transport: 'polling', hold: 0, interval: 40, heartbeat: 1000, sessionTimeout: 5000, maxBody: 100_000, ackDelay: 100, maxPackets: 100 });
        response.writeHead(200).end(`1;o${Buffer.byteLength(handshake)}:${handshake}`);
        return;
      }
      polls++;
      // The second poll repeats the first answer (as after a lost ack): it must not arrive twice.
      response.writeHead(200).end(polls <= 2 ? '1;t5:hello' : `2;`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/lab/stream`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test("a simulated poller sends a browser's headers, posts with the ack and gets each message once", async () => {
  const server = await scriptedServer();
  const messages: string[] = [];
  const sim = connectSim({ url: server.url, transport: 'polling', onMessage: (text) => messages.push(text) });
  try {
    const setup = await sim.opened;
    assert.ok(setup >= 0);
    for (let i = 0; i < 100 && server.seen.filter((s) => s.method === 'GET').length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    sim.send('up');
    for (let i = 0; i < 100 && !server.seen.some((s) => s.method === 'POST'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(messages, ['hello']);
    const [open, poll] = server.seen;
    assert.deepEqual(open!.query, { transport: 'polling' });
    assert.equal(poll!.query.sid, 'S');
    assert.match(String(poll!.headers['user-agent']), /Chrome/);
    assert.equal(poll!.headers.pragma, 'no-cache');
    const post = server.seen.find((s) => s.method === 'POST')!;
    assert.equal(post.body, '1;t2:up');
    assert.equal(post.query.ack, '1');
    assert.equal(post.headers['content-type'], 'application/octet-stream');
    assert.equal(post.headers['content-length'], '7');
    assert.ok(post.headers.origin?.startsWith('http://127.0.0.1:'));
  } finally {
    sim.close();
    await server.close();
  }
});

test('a minimal simulated client sends only what Node adds', async () => {
  const server = await scriptedServer();
  const sim = connectSim({ url: server.url, transport: 'long-polling', headers: 'minimal', onMessage() {} });
  try {
    await sim.opened;
    assert.deepEqual(Object.keys(server.seen[0]!.headers).sort(), ['connection', 'host']);
  } finally {
    sim.close();
    await server.close();
  }
});

test('a simulated client that cannot open says why', async () => {
  const server = http.createServer((_request, response) => response.writeHead(404, { 'Content-Type': 'application/json' }).end('{"code":"HL_ERR_NOT_FOUND","message":"no route"}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let reason = '';
  const sim = connectSim({ url: `http://127.0.0.1:${port}/x`, transport: 'sse', onMessage() {}, onClose: (r) => (reason = r) });
  try {
    await assert.rejects(sim.opened, /no route/);
    assert.equal(reason, 'no route');
  } finally {
    sim.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
