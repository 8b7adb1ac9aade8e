import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';

import { HotlineError, ProtocolError } from '../../src/errors.js';
import type { DeflateParams } from '../../src/protocol/permessage-deflate.js';
import { Side } from '../../src/protocol/side.js';
import { PerMessageDeflate, type DeflateCodecOptions } from '../../src/websocket/permessage-deflate.js';
import { ZlibLimiter } from '../../src/websocket/zlib-limiter.js';
import { DeflateReference } from './deflate-reference.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TRAILER = hex('00 00 ff ff');

const params = (p: Partial<DeflateParams> = {}): DeflateParams => ({
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  ...p,
});

const codec = (
  p: Partial<DeflateParams> = {},
  side: Side = Side.SERVER,
  options: Partial<DeflateCodecOptions> = {},
): PerMessageDeflate => new PerMessageDeflate(params(p), side, { maxPayload: 64 * 1024 * 1024, ...options });

/** A server and a client that agreed on the same parameters. */
function pair(p: Partial<DeflateParams> = {}, options: Partial<DeflateCodecOptions> = {}) {
  return { server: codec(p, Side.SERVER, options), client: codec(p, Side.CLIENT, options) };
}

function compress(c: PerMessageDeflate, data: Buffer | readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => c.compress(data, (err, out) => (err ? reject(err) : resolve(out!))));
}

function decompress(c: PerMessageDeflate, data: Buffer | readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => c.decompress(data, (err, out) => (err ? reject(err) : resolve(out!))));
}

async function rejectsWith(promise: Promise<unknown>, code: string, closeCode: number): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.closeCode, closeCode);
    return true;
  });
}

/** Repetitive but not trivial text, like a stream of JSON events. */
function jsonish(n: number, seed = 1): Buffer {
  let s = '';
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += JSON.stringify({ type: 'chat', id: x % 100000, room: `room-${x % 17}`, text: 'hello '.repeat(x % 7) }) + '\n';
  }
  return Buffer.from(s.slice(0, n));
}

describe('RFC 7692 §7.2.3 examples, byte for byte', () => {
  it('§7.2.3.1: compresses "Hello" to f2 48 cd c9 c9 07 00', async () => {
    const out = await compress(codec(), Buffer.from('Hello'));
    assert.deepEqual(out, hex('f2 48 cd c9 c9 07 00'));
  });

  it('§7.2.3.1: inflates "Hello" whole and fragmented (f2 48 cd | c9 c9 07 00)', async () => {
    const c = codec();
    assert.equal((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString(), 'Hello');
    assert.equal((await decompress(codec(), [hex('f2 48 cd'), hex('c9 c9 07 00')])).toString(), 'Hello');
  });

  it('§7.2.3.2: shares the LZ77 window: the second "Hello" is f2 00 11 00 00', async () => {
    const { server, client } = pair();
    const first = await compress(server, Buffer.from('Hello'));
    const second = await compress(server, Buffer.from('Hello'));
    assert.deepEqual(first, hex('f2 48 cd c9 c9 07 00'));
    assert.deepEqual(second, hex('f2 00 11 00 00'));
    assert.equal((await decompress(client, first)).toString(), 'Hello');
    assert.equal((await decompress(client, second)).toString(), 'Hello');
  });

  it('§7.2.3.2: without context takeover the second "Hello" starts over', async () => {
    const server = codec({ serverNoContextTakeover: true });
    assert.deepEqual(await compress(server, Buffer.from('Hello')), hex('f2 48 cd c9 c9 07 00'));
    assert.deepEqual(await compress(server, Buffer.from('Hello')), hex('f2 48 cd c9 c9 07 00'));
  });

  it('§7.2.3.2: a message that needs the previous window fails with 1007 when the peer resets', async () => {
    const client = codec({ serverNoContextTakeover: true }, Side.CLIENT);
    assert.equal((await decompress(client, hex('f2 48 cd c9 c9 07 00'))).toString(), 'Hello');
    await rejectsWith(decompress(client, hex('f2 00 11 00 00')), 'HL_ERR_INVALID_COMPRESSED_DATA', 1007);
  });

  it('§7.2.3.3: inflates a block with no compression (00 05 00 fa ff "Hello" 00)', async () => {
    assert.equal((await decompress(codec(), hex('00 05 00 fa ff 48 65 6c 6c 6f 00'))).toString(), 'Hello');
  });

  it('§7.2.3.4: inflates a block with BFINAL set, and the next message after it', async () => {
    const c = codec();
    assert.equal((await decompress(c, hex('f3 48 cd c9 c9 07 00 00'))).toString(), 'Hello');
    // zlib ended that stream; the codec must start a new one, not swallow the message.
    assert.equal((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString(), 'Hello');
  });

  it('§7.2.3.5: inflates two DEFLATE blocks in one message', async () => {
    const data = hex('f2 48 05 00 00 00 ff ff ca c9 c9 07 00');
    assert.equal((await decompress(codec(), data)).toString(), 'Hello');
  });

  it('§7.2.3.6: compresses an empty message to 00, and inflates it back', async () => {
    const { server, client } = pair();
    const out = await compress(server, Buffer.alloc(0));
    assert.deepEqual(out, hex('00'));
    assert.equal((await decompress(client, out)).length, 0);
    // Again after a message, when zlib has nothing left to flush.
    await compress(server, Buffer.from('Hello'));
    assert.deepEqual(await compress(server, Buffer.alloc(0)), hex('00'));
    assert.equal((await decompress(client, Buffer.alloc(0))).length, 0);
  });
});

describe('round trips', () => {
  const sizes = [0, 1, 5, 1000, 70_000, 1 << 20];
  for (const side of [Side.SERVER, Side.CLIENT]) {
    for (const noContext of [false, true]) {
      for (const bits of [8, 9, 10, 11, 12, 13, 14, 15]) {
        it(`${side} → peer, ${noContext ? 'no ' : ''}context takeover, ${bits}-bit windows`, async () => {
          const p = {
            serverNoContextTakeover: noContext,
            clientNoContextTakeover: noContext,
            serverMaxWindowBits: bits,
            clientMaxWindowBits: bits,
          };
          const sender = codec(p, side);
          const receiver = codec(p, side === Side.SERVER ? Side.CLIENT : Side.SERVER);
          const reference = new DeflateReference();
          for (const size of sizes) {
            for (const data of [jsonish(size, size + bits), randomBytes(size)]) {
              const out = await compress(sender, data);
              assert.deepEqual(await decompress(receiver, out), data);
              // zlib itself, with exactly the agreed window, reads it too.
              if (noContext) {
                const inflated = zlib.inflateRawSync(Buffer.concat([out, TRAILER]), {
                  windowBits: bits,
                  finishFlush: zlib.constants.Z_SYNC_FLUSH,
                });
                assert.deepEqual(inflated, data);
              }
              // An independent decoder agrees, and no match reaches past the window.
              if (size <= 70_000) {
                if (noContext) reference.history = [];
                assert.deepEqual(reference.feed(Buffer.concat([out, TRAILER])), data);
                if (reference.history.length > 1 << 17) reference.history = reference.history.slice(-(1 << 16));
              }
            }
          }
          assert.ok(reference.maxDistance <= 1 << bits, `distance ${reference.maxDistance} > ${1 << bits}`);
          sender.close();
          receiver.close();
        });
      }
    }
  }

  it('inflates what zlib (as other implementations use it) produces, with context takeover', async () => {
    const deflate = zlib.createDeflateRaw({ windowBits: 15 });
    const chunks: Buffer[] = [];
    deflate.on('data', (c: Buffer) => chunks.push(c));
    const client = codec({}, Side.CLIENT);
    for (let i = 0; i < 20; i++) {
      const data = jsonish(500 + i * 100, i);
      deflate.write(data);
      await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
      const out = Buffer.concat(chunks.splice(0));
      assert.deepEqual(out.subarray(-4), TRAILER);
      assert.deepEqual(await decompress(client, out.subarray(0, -4)), data);
    }
    deflate.close();
  });

  it('accepts a message as the list of its fragments', async () => {
    const { server, client } = pair();
    const data = jsonish(10_000);
    const out = await compress(server, [data.subarray(0, 3), data.subarray(3, 4000), data.subarray(4000)]);
    const parts = [out.subarray(0, 1), out.subarray(1, 2), out.subarray(2, 100), out.subarray(100)];
    assert.deepEqual(await decompress(client, parts), data);
  });
});

describe('window bits 8', () => {
  it('never emits a match farther than 256 bytes back, though zlib cannot build an 8-bit raw window', async () => {
    // Repeats at distances just past 256, and within it: zlib's 9-bit window could reach
    // them were it not for its MIN_LOOKAHEAD margin.
    // With context takeover, so that matches may also reach into earlier messages.
    const server = codec({ serverMaxWindowBits: 8 });
    const client = codec({ serverMaxWindowBits: 8 }, Side.CLIENT); // inflates with 2^8
    const reference = new DeflateReference();
    for (let round = 0; round < 5; round++) {
      for (const period of [100, 200, 250, 251, 255, 256, 257, 300, 400, 511]) {
        const unit = randomBytes(period);
        const data = Buffer.concat([unit.subarray(0, 7), ...new Array<Buffer>(20).fill(unit)]);
        const out = await compress(server, data);
        assert.deepEqual(reference.feed(Buffer.concat([out, TRAILER])), data);
        assert.ok(reference.maxDistance <= 256, `distance ${reference.maxDistance}`);
        assert.deepEqual(await decompress(client, out), data);
      }
    }
    // It still compresses what fits in the window.
    assert.ok((await compress(server, Buffer.from('abc'.repeat(1000)))).length < 100);
    server.close();
    client.close();
  });

  it('inflates with an 8-bit window', async () => {
    const client = codec({ serverMaxWindowBits: 8 }, Side.CLIENT);
    const data = jsonish(5000);
    const out = zlib.deflateRawSync(data, { windowBits: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.deepEqual(await decompress(client, out.subarray(0, -4)), data);
  });
});

describe('limits', () => {
  it('inflates a message of exactly maxPayload bytes, and fails one byte more with 1009', async () => {
    const data = jsonish(100_000);
    const { server } = pair();
    const out = await compress(server, data);
    assert.deepEqual(await decompress(codec({}, Side.CLIENT, { maxPayload: 100_000 }), out), data);
    await rejectsWith(decompress(codec({}, Side.CLIENT, { maxPayload: 99_999 }), out), 'HL_ERR_MESSAGE_TOO_BIG', 1009);
  });

  it('fails a 1 KiB payload that inflates to 1 MiB with 1009 at a 64 KiB limit', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.ok(bomb.length < 1100, `bomb is ${bomb.length} bytes`);
    const c = codec({}, Side.SERVER, { maxPayload: 64 * 1024 });
    await rejectsWith(decompress(c, bomb.subarray(0, -4)), 'HL_ERR_MESSAGE_TOO_BIG', 1009);
    // The stream was dropped mid-way; the next message gets a fresh one.
    assert.equal(c.zlibStreams, 0);
    assert.equal((await decompress(c, hex('f2 48 cd c9 c9 07 00'))).toString(), 'Hello');
  });

  it('fails corrupt data with 1007', async () => {
    await rejectsWith(decompress(codec(), hex('ff ff ff ff')), 'HL_ERR_INVALID_COMPRESSED_DATA', 1007);
    // A valid start, then an invalid distance.
    await rejectsWith(
      decompress(codec(), hex('f2 48 cd c9 c9 07 ff ff ff ff ff ff')),
      'HL_ERR_INVALID_COMPRESSED_DATA',
      1007,
    );
    // A reference before anything was written.
    await rejectsWith(decompress(codec(), hex('f2 00 11 00 00')), 'HL_ERR_INVALID_COMPRESSED_DATA', 1007);
  });

  it('a 1 MiB payload that inflates to 1 GiB fails fast and costs at most the limit (RSS measured)', async () => {
    // DEFLATE cannot expand more than ~1032:1, so > 1 GiB needs ~1 MiB of input: 64
    // copies of a sync-flushed 16 MiB run of zeros (each ~16 KiB), one valid stream.
    const segment = zlib.deflateRawSync(Buffer.alloc(16 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const limit = 16 << 20;
    // In a fresh process, so that nothing else moves RSS. A small message first starts
    // the thread pool, whose one-time cost is not the bomb's.
    const script = `
      const { PerMessageDeflate } = await import(${JSON.stringify(
        new URL('../../src/websocket/permessage-deflate.js', import.meta.url).href,
      )});
      const segment = Buffer.from(process.env.SEGMENT, 'base64');
      const bomb = Buffer.concat(new Array(64).fill(segment));
      const params = { serverNoContextTakeover: false, clientNoContextTakeover: false,
                       serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
      const codec = new PerMessageDeflate(params, 'server', { maxPayload: ${limit} });
      await new Promise((resolve) => codec.decompress(segment.subarray(0, 1000), resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
      globalThis.gc(); globalThis.gc();
      const before = process.memoryUsage();
      let external = 0;
      const sampler = setInterval(() => { external = Math.max(external, process.memoryUsage().external); }, 1);
      const t0 = performance.now();
      codec.decompress(bomb, (err, out) => {
        const ms = performance.now() - t0;
        clearInterval(sampler);
        external = Math.max(external, process.memoryUsage().external);
        console.log(JSON.stringify({ bomb: bomb.length, code: err && err.code, closeCode: err && err.closeCode,
          ms, rssGrowth: process.resourceUsage().maxRSS * 1024 - before.rss,
          externalGrowth: external - before.external }));
      });`;
    const result = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--expose-gc', '--input-type=module', '-e', script],
        { env: { ...process.env, SEGMENT: segment.toString('base64') } },
        (err, stdout, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(result) as {
      bomb: number;
      code: string;
      closeCode: number;
      ms: number;
      rssGrowth: number;
      externalGrowth: number;
    };
    assert.ok(r.bomb < 1.1 * (1 << 20), `bomb is ${r.bomb} bytes`);
    assert.equal(r.code, 'HL_ERR_MESSAGE_TOO_BIG');
    assert.equal(r.closeCode, 1009);
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    // Buffers held: the limit, plus the chunk that crossed it and zlib's next output
    // buffer (16 KiB each), plus small change.
    assert.ok(r.externalGrowth <= limit + (128 << 10), `kept ${r.externalGrowth} bytes`);
    // Peak RSS: that, plus the allocator's overhead on 16 KiB chunks (~25%, measured).
    assert.ok(r.rssGrowth < limit + (8 << 20), `RSS grew by ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
  });
});

describe('ordering and concurrency', () => {
  it('completes callbacks in call order per direction, on a shared limiter of 1', async () => {
    const limiter = new ZlibLimiter(1);
    const codecs = Array.from({ length: 8 }, (_, i) => codec({}, i % 2 ? Side.CLIENT : Side.SERVER, { limiter }));
    const peers = Array.from({ length: 8 }, (_, i) => codec({}, i % 2 ? Side.SERVER : Side.CLIENT, { limiter }));
    // Sizes vary a lot, so that a later small message would finish first if unordered.
    const messages = Array.from({ length: 40 }, (_, i) => jsonish(i % 3 === 0 ? 300_000 : 10 + i, i));
    let maxRunning = 0;
    const work = codecs.map(async (c, k) => {
      const compressed = await Promise.all(
        messages.map(
          (m) =>
            new Promise<Buffer>((resolve, reject) =>
              c.compress(m, (err, out) => {
                maxRunning = Math.max(maxRunning, limiter.running);
                return err ? reject(err) : resolve(out!);
              }),
            ),
        ),
      );
      const order: number[] = [];
      const inflated = await Promise.all(
        compressed.map(
          (data, i) =>
            new Promise<Buffer>((resolve, reject) =>
              peers[k]!.decompress(data, (err, out) => {
                order.push(i);
                return err ? reject(err) : resolve(out!);
              }),
            ),
        ),
      );
      assert.deepEqual(order, messages.map((_, i) => i));
      inflated.forEach((out, i) => assert.deepEqual(out, messages[i]));
    });
    await Promise.all(work);
    assert.ok(maxRunning <= 1);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.queued, 0);
  });

  it('limits concurrent jobs across connections to the limiter’s concurrency', async () => {
    const limiter = new ZlibLimiter(3);
    let maxRunning = 0;
    const run = limiter.run.bind(limiter);
    limiter.run = (job) =>
      run((done) => {
        maxRunning = Math.max(maxRunning, limiter.running);
        job(done);
      });
    const codecs = Array.from({ length: 30 }, () => codec({}, Side.SERVER, { limiter }));
    await Promise.all(codecs.map((c) => compress(c, jsonish(50_000))));
    assert.equal(maxRunning, 3);
    assert.equal(limiter.running, 0);
  });

  it('keeps the order of a large message ahead of a small one', async () => {
    const { server, client } = pair();
    const big = await compress(server, jsonish(2 << 20));
    const small = await compress(server, Buffer.from('small'));
    const order: string[] = [];
    await Promise.all([
      new Promise<void>((resolve) => client.decompress(big, () => (order.push('big'), resolve()))),
      new Promise<void>((resolve) => client.decompress(small, () => (order.push('small'), resolve()))),
    ]);
    assert.deepEqual(order, ['big', 'small']);
  });
});

describe('close', () => {
  it('calls every pending callback once, at once and in order, with an error; none later', async () => {
    const limiter = new ZlibLimiter(1);
    const blocker = codec({}, Side.SERVER, { limiter });
    const c = codec({}, Side.SERVER, { limiter });
    // Hold the only slot so that some of c's jobs wait in the limiter's queue.
    const blocked = compress(blocker, jsonish(1 << 20));
    const calls: string[] = [];
    const { server } = pair();
    const compressed = await compress(server, jsonish(100_000));
    for (let i = 0; i < 3; i++) {
      c.compress(jsonish(100_000), (err) => calls.push(`compress ${i} ${(err as HotlineError | null)?.code}`));
      c.decompress(compressed, (err) => calls.push(`decompress ${i} ${err?.code}`));
    }
    c.close();
    assert.deepEqual(calls.sort(), [
      'compress 0 HL_ERR_INVALID_STATE',
      'compress 1 HL_ERR_INVALID_STATE',
      'compress 2 HL_ERR_INVALID_STATE',
      'decompress 0 HL_ERR_INVALID_STATE',
      'decompress 1 HL_ERR_INVALID_STATE',
      'decompress 2 HL_ERR_INVALID_STATE',
    ]);
    c.close(); // idempotent
    await blocked;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls.length, 6);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.queued, 0);
    assert.equal(c.zlibStreams, 0);
    assert.throws(() => c.compress(Buffer.from('x'), () => {}), { code: 'HL_ERR_INVALID_STATE' });
    assert.throws(() => c.decompress(Buffer.from('x'), () => {}), { code: 'HL_ERR_INVALID_STATE' });
  });

  it('frees everything and calls the other callbacks even if one throws', async () => {
    const limiter = new ZlibLimiter(2);
    const c = codec({}, Side.SERVER, { limiter });
    const calls: string[] = [];
    c.decompress(hex('f2 48 cd c9 c9 07 00'), () => {
      calls.push('decompress');
      throw new Error('application bug');
    });
    c.compress(Buffer.from('Hello'), () => calls.push('compress'));
    assert.throws(() => c.close(), /application bug/);
    assert.deepEqual(calls, ['decompress', 'compress']);
    assert.equal(c.zlibStreams, 0);
    assert.equal(limiter.running, 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(calls, ['decompress', 'compress']);
  });

  it('stops an inflation in progress and gives its slot back', async () => {
    const limiter = new ZlibLimiter(1);
    const c = codec({}, Side.SERVER, { limiter, maxPayload: Infinity });
    const bomb = zlib.deflateRawSync(Buffer.alloc(256 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    let error: HotlineError | null | undefined;
    c.decompress(bomb.subarray(0, -4), (err) => (error = err));
    await new Promise((resolve) => setTimeout(resolve, 5));
    c.close();
    assert.equal(error?.code, 'HL_ERR_INVALID_STATE');
    // The slot is free: another codec on the same limiter proceeds.
    assert.equal(limiter.running, 0);
    assert.deepEqual(await compress(codec({}, Side.SERVER, { limiter }), Buffer.from('Hello')), hex('f2 48 cd c9 c9 07 00'));
  });
});

describe('memory discipline', () => {
  it('creates zlib streams only on first use', async () => {
    const { server, client } = pair();
    assert.equal(server.zlibStreams, 0);
    const out = await compress(server, Buffer.from('Hello'));
    assert.equal(server.zlibStreams, 1);
    await decompress(server, out);
    assert.equal(server.zlibStreams, 2);
    assert.equal(client.zlibStreams, 0);
    server.close();
    assert.equal(server.zlibStreams, 0);
  });

  it('frees each direction’s stream after every message without context takeover', async () => {
    const { server, client } = pair({ serverNoContextTakeover: true, clientNoContextTakeover: true });
    const out = await compress(server, jsonish(5000));
    assert.equal(server.zlibStreams, 0);
    await decompress(client, out);
    assert.equal(client.zlibStreams, 0);
    // Only the direction without takeover lets go.
    const half = codec({ serverNoContextTakeover: true });
    await compress(half, jsonish(5000));
    await decompress(half, await compress(codec({}, Side.CLIENT), jsonish(5000)));
    assert.equal(half.zlibStreams, 1);
  });
});

describe('options', () => {
  it('compresses by default from the threshold up', () => {
    const c = codec({}, Side.SERVER, { threshold: 100 });
    assert.equal(c.shouldCompress(99), false);
    assert.equal(c.shouldCompress(100), true);
    assert.equal(codec().shouldCompress(1023), false);
    assert.equal(codec().shouldCompress(1024), true);
  });

  it('throws at once on bad options', () => {
    for (const options of [{ maxPayload: 0 }, { maxPayload: Number.NaN }, { level: 10 }, { memLevel: 0 }, { threshold: -1 }]) {
      assert.throws(() => codec({}, Side.SERVER, options), { code: 'HL_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
    }
    assert.throws(() => codec({ serverMaxWindowBits: 7 }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});
