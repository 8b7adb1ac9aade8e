/**
 * wss:// and the certificate checks, over HTTP/1.1 (a Hotline server on an https.Server)
 * and over HTTP/2 (RFC 8441, a Hotline server's own `listen({ tls })`, which speaks both):
 * the `tls` options (ca, rejectUnauthorized, servername) apply to both alike, and a
 * self-signed certificate without them fails clearly, with TLS's own reason as the cause.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocket, type WebSocketOptions } from '../../src/client/websocket.js';
import type { CloseEvent, ErrorEvent } from '../../src/client/events.js';
import { Server } from '../../src/server/server.js';
import { closed, nextMessage, openClient } from '../support/client.js';
import { cert, key } from '../support/tls.js';
import { withTimeout } from '../support/timing.js';

type Failure = { code?: string; message?: string; cause?: { code?: string } };

async function failureOf(ws: WebSocket, ms = 2000): Promise<{ error: Failure; close: CloseEvent }> {
  const error = withTimeout(
    new Promise<Failure>((resolve) => ws.addEventListener('error', (event) => resolve((event as unknown as ErrorEvent).error as never), { once: true })),
    ms,
    'an error event',
  );
  const close = closed(ws, ms);
  return { error: await error, close: await close };
}

/** Echoes a message, then closes cleanly. */
async function exchanged(ws: WebSocket): Promise<void> {
  ws.send('over tls');
  assert.equal(await nextMessage(ws), 'over tls');
  ws.close();
  assert.equal((await closed(ws)).wasClean, true);
}

function listen(server: https.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('wss:// with a self-signed certificate', { timeout: 10_000 }, () => {
  let hotline: Server;
  let httpsServer: https.Server;
  let h2Hotline: Server;
  let wss1: string;
  let wss2: string;

  before(async () => {
    hotline = new Server();
    hotline.route('/echo', { message: (peer, data, isBinary) => void peer.send(data, isBinary) });
    httpsServer = https.createServer({ key, cert });
    hotline.attach(httpsServer);
    wss1 = `wss://127.0.0.1:${await listen(httpsServer)}/echo`;
    h2Hotline = new Server();
    h2Hotline.route('/echo', { message: (peer, data, isBinary) => void peer.send(data, isBinary) });
    const { port } = await h2Hotline.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    wss2 = `wss://127.0.0.1:${port}/echo`;
  });
  after(async () => {
    await hotline.close();
    await new Promise<void>((resolve) => httpsServer.close(() => resolve()));
    await h2Hotline.close();
  });

  it('opens over HTTP/1.1 with the certificate as tls.ca, and echoes', async () => {
    const ws = await openClient(wss1, [], { tls: { ca: cert } });
    ws.send('over tls');
    assert.equal(await nextMessage(ws), 'over tls');
    ws.close();
    await closed(ws);
  });

  for (const [name, http2Option] of [['HTTP/1.1', false], ['HTTP/2', true]] as const) {
    const url = (): string => (http2Option ? wss2 : wss1);
    const options = (tls: WebSocketOptions['tls']): WebSocketOptions => ({ ...(tls === undefined ? {} : { tls }), ...(http2Option ? { http2: true } : {}) });

    it(`${name}: opens with rejectUnauthorized: false`, async () => {
      const ws = await openClient(url(), [], options({ rejectUnauthorized: false }));
      await exchanged(ws);
    });

    it(`${name}: opens with the certificate as tls.ca and servername localhost`, async () => {
      const ws = await openClient(url(), [], options({ ca: cert, servername: 'localhost' }));
      await exchanged(ws);
    });

    it(`${name}: fails with HL_ERR_SOCKET and TLS's reason on a self-signed certificate without them`, async () => {
      const { error, close } = await failureOf(new WebSocket(url(), [], options(undefined)));
      assert.equal(error.code, 'HL_ERR_SOCKET');
      assert.equal(error.cause?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      assert.match(String(error.message), /self[- ]signed/);
      assert.equal(close.code, 1006);
    });

    it(`${name}: fails on a servername the certificate does not name`, async () => {
      const { error } = await failureOf(new WebSocket(url(), [], options({ ca: cert, servername: 'example.com' })));
      assert.equal(error.code, 'HL_ERR_SOCKET');
      assert.equal(error.cause?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    });
  }
});
