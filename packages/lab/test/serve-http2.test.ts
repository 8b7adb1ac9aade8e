// `hotline serve --http2`: the page and the transports over h2 (TLS, self-signed), metered by stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startServe } from './support/serve.js';
import type { StatsSnapshot } from '../src/snapshot.js';

function get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

test('serve --http2 serves the page and a poll over h2, and /stats counts the poll by its frames', { timeout: 20_000 }, async () => {
  const serving = await startServe(['--http2']);
  const session = http2.connect(serving.origin, { rejectUnauthorized: false });
  try {
    assert.match(serving.origin, /^https:/);
    assert.match(serving.output(), /self-signed/);
    const page = await get(session, '/');
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Hotline lab/);
    // The polling handshake (the session's open packet) is a request like any poll.
    const poll = await get(session, '/lab/stream?transport=polling');
    assert.equal(poll.status, 200);
    assert.match(poll.body, /"transport":"polling"/);
    const stats = JSON.parse((await get(session, '/stats')).body) as StatsSnapshot;
    assert.equal(stats.protocol, 'h2');
    const polling = stats.transports.polling;
    assert.equal(polling.requests, 1);
    assert.equal(polling.connections, 1);
    const f = polling.http2!;
    assert.ok(f.up.headerBytes > 0 && f.down.headerBytes > 0 && f.down.dataBytes >= poll.body.length, JSON.stringify(f));
    assert.equal(polling.bytesIn + polling.bytesOut, f.up.headerBytes + f.up.dataBytes + f.up.framingBytes + f.down.headerBytes + f.down.dataBytes + f.down.framingBytes);
    assert.equal(stats.tls!.h2Connections, 1);
    assert.ok(stats.tls!.bytesIn > 0 && stats.tls!.bytesOut > page.body.length);
  } finally {
    session.destroy();
    await serving.stop();
  }
});
