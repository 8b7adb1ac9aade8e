import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { RawPeer, upgradeRequest } from '../support/raw.js';
import { type TestServer, next, open, startServer } from './helpers.js';

/**
 * Every refusal ends the socket on a deadline: a client that keeps its half of the
 * connection open (and never reads, or trickles bytes) must not keep the file descriptor.
 */

/**
 * Resolves once the server has let go of the connection: after it is gone, a write from
 * our side draws a reset (or the close completes). Writes a byte every 50 ms meanwhile.
 */
async function serverLetGo(peer: RawPeer, ms: number): Promise<number> {
  const started = Date.now();
  while (!peer.closed && peer.error === null) {
    if (Date.now() - started > ms) throw new Error(`the server still holds the socket after ${ms} ms`);
    peer.socket.write('x');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

describe('refused session upgrades let go of their socket', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer(() => ({ '/r': {} }));
  });
  after(() => ts.close());

  it('destroys the socket of an upgrade naming an unknown session within a deadline, though the client keeps its half open', async () => {
    const peer = await RawPeer.connect(ts.port, { allowHalfOpen: true });
    peer.write(upgradeRequest('/r?transport=websocket&sid=unknown', randomBytes(16).toString('base64')));
    const head = await peer.readHead();
    assert.equal(head.status, 400);
    await peer.waitEnd();
    const took = await serverLetGo(peer, 3000);
    assert.ok(took < 2500, `let go after ${took} ms`);
    peer.destroy();
  });

  it('destroys the socket of a refused session upgrade even while the client trickles bytes', async () => {
    const peer = await RawPeer.connect(ts.port, { allowHalfOpen: true });
    // Not a valid handshake: no Sec-WebSocket-Key.
    peer.write(upgradeRequest('/r?transport=websocket&sid=unknown', ''));
    const head = await peer.readHead();
    assert.equal(head.status, 400);
    // serverLetGo writes every 50 ms: an idle timer would never fire.
    await serverLetGo(peer, 3000);
    peer.destroy();
  });

  it('closes a probe that sends anything but probe or upgrade with 1008, and drops it if it never answers the Close', async () => {
    const client = open(ts.url('/r'), 'long-polling');
    await next(client, 'open');
    const key = randomBytes(16).toString('base64');
    const peer = await RawPeer.connect(ts.port, { allowHalfOpen: true });
    peer.write(upgradeRequest(`/r?transport=websocket&sid=${client.sid}`, key));
    assert.equal((await peer.readHead()).status, 101);
    peer.send({ opcode: 1, payload: Buffer.from('hello?') });
    const close = await peer.readClose();
    assert.equal(close.code, 1008);
    // We never answer the Close, and keep writing: the close timeout (400 ms) ends it.
    await serverLetGo(peer, 3000);
    peer.destroy();
    client.close();
  });
});
