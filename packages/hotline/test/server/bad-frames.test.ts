/**
 * Bad frames over real sockets: each case is sent by a raw TCP client with hand-built
 * bytes and must fail that connection alone — the right Close code on the wire, the right
 * error `code` reported to the handler, TCP closed by the server — while a well-behaved
 * `ws` client on the same server keeps getting its echoes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import type { Peer } from '../../src/types.js';
import { type RawFrame } from '../support/bytes.js';
import { RawPeer, clientFrame, closePayload } from '../support/raw.js';
import { Recorder, assertEchoes, expectFailedConnection, closeWs, listening, wsClient } from '../support/server.js';
import { delay } from '../support/timing.js';
import { gc } from '../support/memory.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;

const MiB = 1024 * 1024;

interface Fixture {
  server: Server;
  port: number;
  recorder: Recorder;
  good: WsClient;
}

async function fixture(options: ConstructorParameters<typeof Server>[0]): Promise<Fixture> {
  const recorder = new Recorder();
  const { server, port, url } = await listening(options ?? {}, (s) => s.route('*', recorder.echo()));
  const good = await wsClient(`${url}/good`);
  await recorder.nextPeer();
  return { server, port, recorder, good };
}

async function teardown(f: Fixture): Promise<void> {
  await closeWs(f.good);
  await f.server.close({ timeout: 500 });
}

/**
 * Sends `bytes` on a fresh connection and checks the precise outcome: a Close frame with
 * `closeCode`, the handler's `error` hook with `errorCode`, then `close`, and TCP closed by
 * the server. The bystander must still echo afterwards.
 */
async function expectFailure(f: Fixture, bytes: Buffer | Buffer[], closeCode: number, errorCode: string): Promise<{ peer: Peer<any>; raw: RawPeer }> {
  const raw = await RawPeer.open(f.port, '/bad');
  const peer = await f.recorder.nextPeer();
  const closed = await expectFailedConnection(raw, f.recorder, peer, bytes, closeCode, errorCode);
  assert.equal(closed.code, 1006, 'no Close frame came from the peer');
  await assertEchoes(f.good);
  return { peer, raw };
}

const f_ = (spec: RawFrame) => clientFrame(spec);

describe('bad frames fail that connection alone (default limits)', { timeout: 30_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({});
  });
  after(() => teardown(f));

  it('fails with 1002 HL_ERR_UNMASKED_FRAME on an unmasked client frame (§5.1)', async () => {
    await expectFailure(f, f_({ opcode: TEXT, payload: 'hi', mask: null }), 1002, 'HL_ERR_UNMASKED_FRAME');
  });

  it('fails with 1002 HL_ERR_INVALID_OPCODE on reserved data opcode 0x3 (§5.2)', async () => {
    await expectFailure(f, f_({ opcode: 0x3, payload: 'x' }), 1002, 'HL_ERR_INVALID_OPCODE');
  });

  it('fails with 1002 HL_ERR_INVALID_OPCODE on reserved control opcode 0xB (§5.2)', async () => {
    await expectFailure(f, f_({ opcode: 0xb }), 1002, 'HL_ERR_INVALID_OPCODE');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS when RSV2 is set (§5.2)', async () => {
    await expectFailure(f, f_({ opcode: TEXT, payload: 'x', rsv2: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS when RSV3 is set (§5.2)', async () => {
    await expectFailure(f, f_({ opcode: BINARY, payload: 'x', rsv3: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_RESERVED_BITS when RSV1 is set and no extension was negotiated', async () => {
    await expectFailure(f, f_({ opcode: TEXT, payload: 'x', rsv1: true }), 1002, 'HL_ERR_RESERVED_BITS');
  });

  it('fails with 1002 HL_ERR_CONTROL_FRAGMENTED on a Ping without FIN (§5.5)', async () => {
    await expectFailure(f, f_({ opcode: PING, payload: 'p', fin: false }), 1002, 'HL_ERR_CONTROL_FRAGMENTED');
  });

  it('fails with 1002 HL_ERR_CONTROL_TOO_LONG on a 126-byte Ping, before reading its payload (§5.5)', async () => {
    // Only the header: the length alone is enough to refuse it.
    const header = f_({ opcode: PING, length: 126, lengthForm: 16 }).subarray(0, 8);
    await expectFailure(f, header, 1002, 'HL_ERR_CONTROL_TOO_LONG');
  });

  it('fails with 1002 HL_ERR_UNEXPECTED_CONTINUATION on a continuation with nothing to continue (§5.4)', async () => {
    await expectFailure(f, f_({ opcode: CONTINUATION, payload: 'x' }), 1002, 'HL_ERR_UNEXPECTED_CONTINUATION');
  });

  it('fails with 1002 HL_ERR_EXPECTED_CONTINUATION on a new message inside a fragmented one (§5.4)', async () => {
    const bytes = Buffer.concat([f_({ opcode: TEXT, payload: 'a', fin: false }), f_({ opcode: TEXT, payload: 'b' })]);
    await expectFailure(f, bytes, 1002, 'HL_ERR_EXPECTED_CONTINUATION');
  });

  it('fails with 1007 HL_ERR_INVALID_UTF8 on invalid UTF-8 in a text message (§8.1)', async () => {
    await expectFailure(f, f_({ opcode: TEXT, payload: Buffer.from([0x68, 0xc3, 0x28]) }), 1007, 'HL_ERR_INVALID_UTF8');
  });

  it('fails with 1007 at the first bad byte, before the rest of the frame arrives', async () => {
    // The header announces 1000 bytes; only 4 are sent, the second of which can never start UTF-8.
    const whole = f_({ opcode: TEXT, payload: Buffer.concat([Buffer.from('a\xff', 'latin1'), Buffer.alloc(998, 0x61)]) });
    await expectFailure(f, whole.subarray(0, 2 + 2 + 4 + 4), 1007, 'HL_ERR_INVALID_UTF8');
  });

  it('fails with 1007 on invalid UTF-8 split across fragments', async () => {
    // e2 82 | 28: a three-byte sequence broken by its third byte, in the second fragment.
    const bytes = Buffer.concat([
      f_({ opcode: TEXT, payload: Buffer.from([0xe2, 0x82]), fin: false }),
      f_({ opcode: CONTINUATION, payload: Buffer.from([0x28]) }),
    ]);
    await expectFailure(f, bytes, 1007, 'HL_ERR_INVALID_UTF8');
  });

  it('fails with 1007 on invalid UTF-8 in a close reason (§5.5.1)', async () => {
    const payload = Buffer.concat([closePayload(1000), Buffer.from([0xc0, 0xaf])]);
    await expectFailure(f, f_({ opcode: CLOSE, payload }), 1007, 'HL_ERR_INVALID_UTF8');
  });

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    it(`fails with 1002 HL_ERR_INVALID_CLOSE_CODE on close code ${code} (§7.4)`, async () => {
      await expectFailure(f, f_({ opcode: CLOSE, payload: closePayload(code) }), 1002, 'HL_ERR_INVALID_CLOSE_CODE');
    });
  }

  it('fails with 1002 HL_ERR_INVALID_CLOSE_PAYLOAD on a 1-byte close payload (§5.5.1)', async () => {
    await expectFailure(f, f_({ opcode: CLOSE, payload: Buffer.from([0x03]) }), 1002, 'HL_ERR_INVALID_CLOSE_PAYLOAD');
  });

  it('fails with 1002 HL_ERR_INVALID_LENGTH on a 64-bit length with the top bit set (§5.2)', async () => {
    const header = f_({ opcode: BINARY, length: 0x8000_0000_0000_0001n, lengthForm: 64 });
    await expectFailure(f, header, 1002, 'HL_ERR_INVALID_LENGTH');
  });

  it('fails with 1009 HL_ERR_MESSAGE_TOO_BIG at the header of a frame over maxPayload (16 MiB)', async () => {
    // Header and mask only: refused before a single payload byte is sent.
    const header = f_({ opcode: BINARY, length: 16 * MiB + 1, lengthForm: 64 });
    await expectFailure(f, header, 1009, 'HL_ERR_MESSAGE_TOO_BIG');
  });

  it('does not buffer the payload of a refused oversized frame (server memory stays flat)', async () => {
    // Half-open: we keep writing after the server's FIN, as a hostile peer would.
    const raw = await RawPeer.open(f.port, '/big', {}, { allowHalfOpen: true });
    const peer = await f.recorder.nextPeer();
    gc();
    const before = process.memoryUsage().arrayBuffers;
    // Announce 1 GiB, then push 32 MiB of it anyway, from one reused buffer.
    raw.write(f_({ opcode: BINARY, length: 1024 * MiB, lengthForm: 64 }));
    const close = await raw.readClose(2000);
    assert.equal(close.code, 1009);
    const junk = Buffer.alloc(MiB, 0x41);
    for (let i = 0; i < 32 && !raw.closed; i++) {
      if (!raw.socket.write(junk)) await new Promise((resolve) => raw.socket.once('drain', resolve).once('close', resolve));
    }
    await delay(50);
    gc();
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 4 * MiB, `arrayBuffers grew by ${(grown / MiB).toFixed(1)} MiB`);
    assert.equal((await f.recorder.wait('error', peer)).error.code, 'HL_ERR_MESSAGE_TOO_BIG');
    raw.end();
    await f.recorder.wait('close', peer);
    await raw.waitClosed();
    await assertEchoes(f.good);
  });

  it('answers the messages that came before the bad frame in the same read before its Close, and sends nothing after it', async () => {
    const raw = await RawPeer.open(f.port, '/mixed');
    const peer = await f.recorder.nextPeer();
    raw.write(Buffer.concat([f_({ opcode: TEXT, payload: 'first' }), f_({ opcode: 0x3 })]));
    const close = await raw.readClose();
    assert.equal(close.code, 1002);
    // The connection fails once the handler has run for "first" (Autobahn 4.1.3, strict):
    // its echo goes out before the Close.
    assert.deepEqual(close.before.map((frame) => frame.payload.toString()), ['first']);
    const messages = f.recorder.of('message', peer);
    assert.deepEqual(messages.map((m) => m.data.toString()), ['first']);
    await raw.waitEnd();
    assert.equal(raw.rest(), '', 'no frame after the Close');
    await raw.waitClosed();
    await assertEchoes(f.good);
  });

  // Autobahn 3.2-3.7, 4.1.3-4.1.5, 4.2.3-4.2.5, 5.9-5.20, 6.x: what came before the
  // violation in the same read is echoed, then the Close, for the case to be "strict".
  for (const [what, violation, closeCode, errorCode] of [
    ['RSV2 set', f_({ opcode: TEXT, payload: 'x', rsv2: true }), 1002, 'HL_ERR_RESERVED_BITS'],
    ['RSV3 set on a Ping', f_({ opcode: PING, rsv3: true }), 1002, 'HL_ERR_RESERVED_BITS'],
    ['a reserved data opcode', f_({ opcode: 0x4, payload: 'x' }), 1002, 'HL_ERR_INVALID_OPCODE'],
    ['a reserved control opcode', f_({ opcode: 0xc }), 1002, 'HL_ERR_INVALID_OPCODE'],
    ['a stray continuation', f_({ opcode: CONTINUATION, payload: 'c' }), 1002, 'HL_ERR_UNEXPECTED_CONTINUATION'],
    ['a bad close code', f_({ opcode: CLOSE, payload: closePayload(1004) }), 1002, 'HL_ERR_INVALID_CLOSE_CODE'],
    ['bad UTF-8 in a later message', f_({ opcode: TEXT, payload: Buffer.from([0xce, 0xba, 0xed, 0xa0, 0x80]) }), 1007, 'HL_ERR_INVALID_UTF8'],
  ] as const) {
    it(`echoes a valid message sent in one write with ${what}, then closes with ${closeCode}`, async () => {
      const raw = await RawPeer.open(f.port, '/strict');
      const peer = await f.recorder.nextPeer();
      raw.write(Buffer.concat([f_({ opcode: TEXT, payload: 'Hello' }), f_({ opcode: PING, payload: 'p' }), violation]));
      const close = await raw.readClose();
      assert.equal(close.code, closeCode);
      assert.deepEqual(
        close.before.map((frame) => [frame.opcode, frame.payload.toString()]),
        [
          [0xa, 'p'],
          [TEXT, 'Hello'],
        ],
        'the pong first (it is automatic), then the echo, then the Close',
      );
      const error = await f.recorder.wait('error', peer);
      assert.equal(error.error.code, errorCode);
      await raw.waitEnd();
      assert.equal(raw.rest(), '', 'no frame after the Close');
      await raw.waitClosed();
      await assertEchoes(f.good);
    });
  }

  it('stops a flood of empty fragments at maxFragments (262,144) with 1009 HL_ERR_TOO_MANY_FRAGMENTS', async () => {
    const empty = f_({ opcode: CONTINUATION, fin: false });
    const count = 262_144;
    // 1.5 MB of six-byte frames, sent in a few large writes.
    const batch = Buffer.concat(Array.from({ length: 16_384 }, () => empty));
    const bytes = [f_({ opcode: BINARY, fin: false })];
    for (let sent = 0; sent < count; sent += 16_384) bytes.push(batch);
    const started = Date.now();
    await expectFailure(f, bytes, 1009, 'HL_ERR_TOO_MANY_FRAGMENTS');
    assert.ok(Date.now() - started < 5000);
  });

  it('lets a legitimate 4 MiB message through as 65,536 fragments of 64 bytes', async () => {
    const raw = await RawPeer.open(f.port, '/fragments');
    const peer = await f.recorder.nextPeer();
    const message = Buffer.alloc(4 * MiB);
    for (let i = 0; i < message.length; i++) message[i] = (i * 31 + (i >> 8)) & 0xff;
    const frames: Buffer[] = [];
    for (let at = 0; at < message.length; at += 64) {
      frames.push(f_({ opcode: at === 0 ? BINARY : CONTINUATION, payload: message.subarray(at, at + 64), fin: at + 64 >= message.length }));
    }
    const wire = Buffer.concat(frames);
    for (let at = 0; at < wire.length; at += 256 * 1024) raw.write(wire.subarray(at, at + 256 * 1024));
    const echo = await raw.readFrame(10_000);
    assert.equal(echo.opcode, BINARY);
    assert.equal(echo.fin, true);
    assert.equal(echo.payload.length, message.length);
    assert.ok(echo.payload.equals(message), 'the message arrives intact');
    const received = f.recorder.of('message', peer);
    assert.equal(received.length, 1);
    assert.equal(f.recorder.of('error', peer).length, 0);
    raw.send({ opcode: CLOSE, payload: closePayload(1000) });
    assert.equal((await raw.readClose()).code, 1000);
    await raw.waitClosed();
    await assertEchoes(f.good);
  });
});

describe('bad frames against tight limits (maxPayload 64 KiB, maxFragments 100)', { timeout: 20_000 }, () => {
  let f: Fixture;
  before(async () => {
    f = await fixture({ maxPayload: 64 * 1024, maxFragments: 100 });
  });
  after(() => teardown(f));

  it('fails with 1009 when fragments add up to more than maxPayload, at the header of the one that crosses it', async () => {
    const first = f_({ opcode: BINARY, payload: Buffer.alloc(40 * 1024), fin: false });
    // The second fragment's header announces 30 KiB: 70 KiB in total. No payload follows.
    const second = f_({ opcode: CONTINUATION, length: 30 * 1024 }).subarray(0, 8);
    await expectFailure(f, [first, second], 1009, 'HL_ERR_MESSAGE_TOO_BIG');
  });

  it('accepts a message of exactly maxPayload', async () => {
    const raw = await RawPeer.open(f.port, '/exact');
    await f.recorder.nextPeer();
    raw.send({ opcode: BINARY, payload: Buffer.alloc(64 * 1024, 7) });
    const echo = await raw.readFrame();
    assert.equal(echo.payload.length, 64 * 1024);
    raw.destroy();
    await assertEchoes(f.good);
  });

  it('fails with 1009 HL_ERR_TOO_MANY_FRAGMENTS on the 101st fragment, empty ones included', async () => {
    const bytes = [f_({ opcode: TEXT, fin: false })];
    for (let i = 0; i < 100; i++) bytes.push(f_({ opcode: CONTINUATION, fin: false }));
    await expectFailure(f, Buffer.concat(bytes), 1009, 'HL_ERR_TOO_MANY_FRAGMENTS');
  });

  it('keeps serving many bad connections at once while the bystander echoes', async () => {
    const raws = await Promise.all(Array.from({ length: 20 }, () => RawPeer.open(f.port, '/many')));
    for (const [i, raw] of raws.entries()) raw.write(f_({ opcode: i % 2 === 0 ? 0x3 : TEXT, payload: Buffer.from([0xff]) }));
    await assertEchoes(f.good);
    const codes = await Promise.all(raws.map((raw) => raw.readClose().then((c) => c.code)));
    assert.deepEqual(codes, raws.map((_, i) => (i % 2 === 0 ? 1002 : 1007)));
    await Promise.all(raws.map((raw) => raw.waitClosed()));
    await delay(10);
    assert.equal(f.server.connections, 1, 'only the bystander is left');
    await assertEchoes(f.good);
  });
});
