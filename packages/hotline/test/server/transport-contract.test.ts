/**
 * The transport contract: what a `Server` hands a transport plugged in with `plug` — the
 * plain requests of its routes, every upgrade before its own, and a step of the graceful
 * shutdown under the same deadline — tested with a transport of the test's own.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Server, type Route, type ServerTransport, type ShutdownOptions, type UpgradeHead, type Opening } from '../../src/server/server.js';
import { RawPeer, upgradeRequest } from '../support/raw.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A transport that takes what its path names and records every call. */
class RecordingTransport implements ServerTransport {
  readonly requests: string[] = [];
  readonly upgrades: string[] = [];
  readonly shutdowns: ShutdownOptions[] = [];
  constructor(
    private readonly takes: string,
    private readonly shutdownTakes = 0,
  ) {}

  handleRequest(request: IncomingMessage, response: ServerResponse, route: Route): boolean {
    this.requests.push(`${route.path} ${request.url}`);
    if (!request.url!.includes(this.takes)) return false;
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.end(`taken by ${this.takes}`);
    return true;
  }

  claimUpgrade(request: UpgradeHead, opening: Opening): boolean {
    this.upgrades.push(request.url ?? '');
    if (!request.url!.includes(this.takes)) return false;
    opening.connection!.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return true;
  }

  async shutdown(options: ShutdownOptions): Promise<void> {
    this.shutdowns.push(options);
    await new Promise((resolve) => setTimeout(resolve, this.shutdownTakes));
  }
}

async function listening(...transports: ServerTransport[]): Promise<{ server: Server; port: number }> {
  const server = new Server({ closeTimeout: 400 });
  server.route('/r', { message: (peer, data) => void peer.send(data) });
  for (const transport of transports) server.plug(transport);
  const address: AddressInfo = await server.listen(0, '127.0.0.1');
  return { server, port: address.port };
}

describe('ServerTransport: server.plug', () => {
  it('hands the plain requests of a route to the transports in order, before the 426', async () => {
    const first = new RecordingTransport('first');
    const second = new RecordingTransport('second');
    const { server, port } = await listening(first, second);
    const taken = await fetch(`http://127.0.0.1:${port}/r?second`);
    assert.equal(await taken.text(), 'taken by second');
    assert.deepEqual(first.requests, ['/r /r?second']);
    assert.deepEqual(second.requests, ['/r /r?second']);
    const left = await fetch(`http://127.0.0.1:${port}/r?nobody`);
    assert.equal(left.status, 426, 'what no transport takes gets the server’s own answer');
    await left.text();
    await server.close({ timeout: 100 });
  });

  it('never hands over a request for a path no route serves', async () => {
    const transport = new RecordingTransport('r');
    const { server, port } = await listening(transport);
    const answer = await fetch(`http://127.0.0.1:${port}/elsewhere`);
    await answer.text();
    assert.deepEqual(transport.requests, []);
    await server.close({ timeout: 100 });
  });

  it('lets a transport claim an upgrade before the server makes it a WebSocket peer', async () => {
    const transport = new RecordingTransport('claimed');
    const { server, port } = await listening(transport);
    const claimed = await RawPeer.connect(port);
    claimed.write(upgradeRequest('/r?claimed', KEY));
    assert.equal((await claimed.readHead()).status, 403);
    claimed.destroy();
    const peer = await RawPeer.connect(port);
    peer.write(upgradeRequest('/r', KEY));
    assert.equal((await peer.readHead()).status, 101, 'an unclaimed upgrade is the server’s');
    assert.deepEqual(transport.upgrades, ['/r?claimed', '/r']);
    peer.destroy();
    await server.close({ timeout: 100 });
  });

  it('runs each transport’s shutdown step with the resolved close options, and waits for it', async () => {
    const transport = new RecordingTransport('x', 150);
    const { server } = await listening(transport);
    const started = Date.now();
    await server.close({ timeout: 1000, reason: 'maintenance' });
    assert.ok(Date.now() - started >= 140, 'close() waited for the step');
    assert.deepEqual(transport.shutdowns, [{ timeout: 1000, code: 1001, reason: 'maintenance' }]);
  });
});
