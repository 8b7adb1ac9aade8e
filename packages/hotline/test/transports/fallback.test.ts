import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { type TestServer, next, open, recorder, startServer } from './helpers.js';
import { connect } from '../../src/browser/client.js';
import { WebSocket } from '../../src/client/websocket.js';

/**
 * A network that blocks WebSocket: a proxy that forwards plain HTTP (streaming included)
 * and refuses, or swallows, every Upgrade. The client must fall back on its own.
 */
function blockingProxy(target: number, mode: 'refuse' | 'hang'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const proxy = http.createServer((request, response) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: target, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  });
  proxy.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  proxy.on('upgrade', (_request, socket: Socket) => {
    if (mode === 'refuse') socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    // 'hang': accept the bytes, never answer (some middleboxes do this).
  });
  return new Promise((resolve) => {
    proxy.listen(0, '127.0.0.1', () =>
      resolve({
        port: (proxy.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            proxy.close(() => done());
          }),
      }),
    );
  });
}

describe('falling back when WebSocket is blocked', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer(() => ({
      '/e': {
        message(peer, data, isBinary) {
          peer.send(`${peer.transport}:${data.toString()}`, isBinary);
        },
      },
      '/no-ws': {
        upgrade(request) {
          if (request.transport === 'websocket') throw new Error('WebSocket disabled here');
        },
        message(peer, data) {
          peer.send(`${peer.transport}:${data.toString()}`);
        },
      },
    }));
  });
  after(() => ts.close());

  for (const mode of ['refuse', 'hang'] as const) {
    it(`falls back to SSE through a proxy that ${mode === 'refuse' ? 'refuses' : 'swallows'} the Upgrade`, async () => {
      const proxy = await blockingProxy(ts.port, mode);
      try {
        const client = connect(`http://127.0.0.1:${proxy.port}/e`, { WebSocket: WebSocket as never, openTimeout: 500 });
        const rec = recorder(client);
        const transports: string[] = [];
        client.addEventListener('transport', (event) => transports.push((event as unknown as { transport: string }).transport));
        await next(client, 'open', 5000);
        assert.equal(client.transport, 'sse');
        client.send('hi');
        assert.deepEqual(await rec.until(1), ['sse:hi']);
        assert.deepEqual(transports, ['sse']);
        client.close();
      } finally {
        await proxy.close();
      }
    });
  }

  it('falls back past SSE to long-polling when SSE is not offered, and sends what was queued before', async () => {
    const client = connect(ts.url('/no-ws'), { WebSocket: WebSocket as never, transports: ['websocket', 'long-polling', 'polling'] });
    const rec = recorder(client);
    client.send('queued early');
    await next(client, 'open');
    assert.equal(client.transport, 'long-polling');
    assert.deepEqual(await rec.until(1), ['long-polling:queued early']);
    client.close();
  });

  it('in a runtime without a WebSocket class, refuses a websocket transport at connect() instead of skipping it', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      assert.throws(() => connect(ts.url('/e'), { transports: ['websocket', 'polling'] }), {
        code: 'HL_ERR_INVALID_ARGUMENT',
        message: /connect\(url, \{ WebSocket \}\).*from 'hotline'.*leave 'websocket' out of `transports`/,
      });
      assert.throws(() => connect(ts.url('/e')), { code: 'HL_ERR_INVALID_ARGUMENT' }, 'the default transports start with websocket');
    } finally {
      if (saved !== undefined) global.WebSocket = saved;
    }
  });

  it('in a runtime without a WebSocket class, opens over the HTTP transports when websocket is left out', async () => {
    const client = connect(ts.url('/e'), { transports: ['polling'] });
    await next(client, 'open');
    assert.equal(client.transport, 'polling');
    client.close();
  });

  it('closes with 1006 and an error when no transport can connect and reconnection is off', async () => {
    const client = open('http://127.0.0.1:9/e', 'long-polling', { reconnect: false, openTimeout: 500 });
    const errors: string[] = [];
    client.addEventListener('error', (event) => errors.push((event as unknown as { message: string }).message));
    const event = await next<Event & { code: number; willReconnect: boolean }>(client, 'close');
    assert.equal(event.code, 1006);
    assert.equal(event.willReconnect, false);
    assert.equal(errors.length, 1);
  });

  it('retries with backoff until the server appears, then opens', async () => {
    // A port with nothing on it yet.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = connect(`http://127.0.0.1:${port}/e`, { transports: ['polling'], reconnect: { minDelay: 100, maxDelay: 200 } });
    const delays: number[] = [];
    client.addEventListener('reconnecting', (event) => delays.push((event as unknown as { delay: number }).delay));
    await next(client, 'reconnecting');
    const late = await startServer(() => ({ '/e': {} }));
    try {
      // The server is on another port: re-point the test at it by proxying the old one.
      const relay = http.createServer((request, response) => {
        const upstream = http.request({ host: '127.0.0.1', port: late.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(response);
        });
        request.pipe(upstream);
      });
      await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
      await next(client, 'open', 5000);
      assert.ok(delays.length >= 1);
      for (const delay of delays) assert.ok(delay >= 50 && delay <= 300, `delay ${delay} outside min/max with jitter`);
      client.close();
      relay.closeAllConnections();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    } finally {
      await late.close();
    }
  });
});
