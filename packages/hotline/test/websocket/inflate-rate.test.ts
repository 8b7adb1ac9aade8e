/**
 * `maxInflateRate` over real sockets: connections that send decompression bombs within
 * every size limit are slowed to the server's rate, taking turns, while a bystander's
 * small compressed messages keep flowing between their turns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import type { Peer } from '../../src/types.js';
import { RawPeer, acceptFor, clientFrame, upgradeRequest } from '../support/raw.js';
import { Recorder, closeWs, listening, wsClient } from '../support/server.js';
import { eventually, withTimeout } from '../support/timing.js';

const BINARY = 0x2;
const KiB = 1024;
const MiB = 1024 * KiB;
const RATE = 16 * MiB;
/** What the bucket lets through at once (100 ms of the rate), and one zlib chunk per job in flight. */
const BURST = RATE * 0.1 + 10 * 16 * KiB;

/** A whole message compressed on its own, 00 00 ff ff removed (RFC 7692 §7.2.1). */
function deflate(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits: 12 });
  return out.subarray(0, out.length - 4);
}

async function openDeflate(port: number, path: string): Promise<RawPeer> {
  const raw = await RawPeer.connect(port);
  const key = randomBytes(16).toString('base64');
  raw.write(upgradeRequest(path, key, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }));
  const head = await raw.readHead();
  assert.equal(head.status, 101);
  assert.equal(head.headers['sec-websocket-accept'], acceptFor(key));
  assert.match(head.headers['sec-websocket-extensions'] ?? '', /permessage-deflate/);
  return raw;
}

describe('maxInflateRate: decompression bombs within the limits', { timeout: 60_000 }, () => {
  let server: Server;
  let port: number;
  let url: string;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({ perMessageDeflate: true, maxInflateRate: RATE, maxPayload: 4 * MiB, maxPartialBytes: 512 * MiB }, (s) => {
      s.route('/bomb', recorder.handler());
      s.route('*', recorder.echo());
    });
    ({ server, port, url } = started);
  });

  after(() => server.close({ timeout: 300 }));

  it('holds the output of inflations waiting for their turn in maxPartialBytes: past it, the largest fails with 1013', async () => {
    const small = await listening({ perMessageDeflate: true, maxInflateRate: 4 * MiB, maxPayload: 4 * MiB, maxPartialBytes: 3 * MiB }, (s) => {
      s.route('*', recorder.handler());
    });
    try {
      recorder.skipOpened();
      // Each alone is within every limit; slowed, they hold 4 MiB of output together.
      const bomb = clientFrame({ opcode: BINARY, payload: deflate(Buffer.alloc(2 * MiB)), rsv1: true });
      const raws = [await openDeflate(small.port, '/'), await openDeflate(small.port, '/')];
      const peers = [await recorder.nextPeer(), await recorder.nextPeer()];
      for (const raw of raws) raw.write(bomb);
      const close = await Promise.race(raws.map((raw) => raw.readClose(10_000)));
      assert.equal(close.code, 1013);
      const failed = peers.filter((peer) => recorder.of('error', peer).length > 0);
      assert.equal(failed.length, 1);
      assert.equal(recorder.of('error', failed[0])[0]!.error.code, 'HL_ERR_PARTIAL_BYTES');
      // The other one is inflated in full, at the rate.
      const other = peers.find((peer) => peer !== failed[0])!;
      const message = await recorder.wait('message', other, 10_000);
      assert.equal(message.data.length, 2 * MiB);
      for (const raw of raws) raw.destroy();
    } finally {
      await small.server.close({ timeout: 300 });
    }
  });

  it('slows a bomb flood to the rate while a bystander’s small compressed messages keep flowing', async () => {
    const bystander: WsClient = await wsClient(`${url}/bystander`, undefined, { perMessageDeflate: { threshold: 0 } });
    await recorder.nextPeer();
    const bombers = 4;
    const bombs = 6;
    const bomb = clientFrame({ opcode: BINARY, payload: deflate(Buffer.alloc(2 * MiB)), rsv1: true });
    const total = bombers * bombs * 2 * MiB;
    const raws: RawPeer[] = [];
    const peers: Array<Peer<any>> = [];
    for (let i = 0; i < bombers; i++) {
      raws.push(await openDeflate(port, '/bomb'));
      peers.push(await recorder.nextPeer());
    }
    const delivered = () => peers.reduce((sum, peer) => sum + recorder.of('message', peer).reduce((s, m) => s + m.data.length, 0), 0);
    const started = Date.now();
    // Each bomber sends all its bombs at once: 12 KiB on the wire, 48 MiB inflated.
    for (const raw of raws) raw.write(Buffer.concat(Array.from({ length: bombs }, () => bomb)));

    // The bystander, one small message at a time, each waiting for its echo.
    for (let i = 0; i < 20; i++) {
      const echo = withTimeout(new Promise<string>((resolve) => bystander.once('message', (data: Buffer) => resolve(data.toString()))), 5000, `echo ${i}`);
      bystander.send(`small message ${i}`);
      assert.equal(await echo, `small message ${i}`);
      const elapsed = (Date.now() - started) / 1000;
      // Never more than the rate allows (an upper bound: a slow machine only does less).
      assert.ok(delivered() <= BURST + RATE * elapsed, `${delivered()} bytes inflated in ${elapsed} s`);
    }
    assert.ok(delivered() < total, 'the bystander was served while the bombs were still waiting their turns');

    await eventually(() => delivered() === total, 30_000, 'every bomb to be inflated');
    const elapsed = (Date.now() - started) / 1000;
    assert.ok(elapsed >= (total - BURST) / RATE, `${total} bytes inflated in ${elapsed} s, above the rate`);
    for (const peer of peers) assert.equal(recorder.of('error', peer).length, 0, 'slowed, not failed: the bombs are within the limits');
    for (const raw of raws) raw.destroy();
    await closeWs(bystander);
  });
});
