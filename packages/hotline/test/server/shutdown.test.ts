/**
 * Graceful shutdown, bounded: `server.close({ timeout })` resolves within the timeout plus
 * CLOSE_MARGIN whatever its peers do, applies the timeout once for every transport, and
 * has run every close hook by then.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSE_MARGIN } from '../../src/server/server.js';
import { RawPeer, rawRequest, upgradeRequest } from '../support/raw.js';
import { startServer } from '../transports/helpers.js';

/** Scheduling slack on a loaded two-core machine. */
const SLACK = 300;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

describe('server.close()', { timeout: 20_000 }, () => {
  it('resolves within timeout + CLOSE_MARGIN while a refused session-upgrade socket is held open', async () => {
    const closes: number[] = [];
    const { server, port } = await startServer(() => ({ '/': { close: (_peer, code) => void closes.push(code) } }));
    const held = await RawPeer.connect(port, { allowHalfOpen: true });
    held.write(upgradeRequest('/?transport=websocket&sid=nope', KEY));
    const head = await held.readHead();
    assert.equal(head.status, 400);
    const started = Date.now();
    await server.close({ timeout: 300 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed <= 300 + CLOSE_MARGIN + SLACK, `close() took ${elapsed} ms`);
    held.destroy();
  });

  it('applies its timeout once: a WebSocket peer and an HTTP session that never answer are dropped together', async () => {
    const closes: Array<[string, number]> = [];
    // Each peer's own closeTimeout is longer than the shutdown's: the shutdown's governs.
    const { server, port } = await startServer(
      () => ({ '/': { close: (peer, code) => void closes.push([peer.transport, code]) } }),
      {},
      { closeTimeout: 5000 },
    );
    const deaf = await RawPeer.open(port, '/');
    // A polling session that never comes back for its close packet.
    const handshake = await rawRequest(port, 'GET /?transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal(handshake.head.status, 200);
    const timeout = 600;
    const started = Date.now();
    await server.close({ timeout });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= timeout - 50, `close() took ${elapsed} ms`);
    assert.ok(elapsed <= timeout + CLOSE_MARGIN + SLACK, `close() took ${elapsed} ms: the timeout was applied more than once`);
    assert.deepEqual(
      closes.map(([transport]) => transport).sort(),
      ['polling', 'websocket'],
      'every close hook has run when close() resolves',
    );
    deaf.destroy();
    handshake.peer.destroy();
  });

  it('returns the same promise when called again', async () => {
    const { server } = await startServer(() => ({ '/': {} }));
    const first = server.close({ timeout: 100 });
    assert.equal(server.close({ timeout: 5000 }), first);
    await first;
  });

  it('refuses a timeout that is not a number >= 0 before shutting anything down', async () => {
    const { server } = await startServer(() => ({ '/': {} }));
    await assert.rejects(server.close({ timeout: -1 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    await server.close({ timeout: 100 });
  });
});
