import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  type Packet,
  PacketCounter,
  SseParser,
  TooManyPackets,
  WireError,
  decodeBatch,
  decodeClose,
  decodeHandshake,
  decodeSseData,
  encodeBatch,
  fromBase64,
  ssePacketEvent,
  toBase64,
  sseOpenEvent,
  type PayloadPacket,
  closePayload,
  concat,
  queuedBatchParts,
  sseQueuedEvent,
  sseRetryEvent,
} from '../../../src/protocol/session/wire.js';

/** A small deterministic PRNG (xorshift32): failures reproduce from the seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const text = (s: string) => new TextEncoder().encode(s);
const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

/** Text that stresses the formats: newlines, CR, colons, digits, non-ASCII, astral chars. */
function randomText(r: () => number, max: number): string {
  const alphabet = ['a', 'Z', '0', '9', ':', ';', '\n', '\r', '\r\n', ' ', 'é', '中', '😀', 'data: x', 'id: 3', '\u2028', '"', '\\'];
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}

function randomPacket(r: () => number): Packet {
  const k = r();
  if (k < 0.45) return { kind: 't', data: text(randomText(r, 40)) };
  if (k < 0.9) {
    const data = new Uint8Array(Math.floor(r() * 64));
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
    return { kind: 'b', data };
  }
  return { kind: 'c', code: 1000 + Math.floor(r() * 3000), reason: randomText(r, 10) };
}

/** A packet as a sender's queue holds it: a close as its "code reason" bytes. */
function queued(packet: Packet): PayloadPacket {
  if (packet.kind === 'c') return { kind: 'c', data: closePayload(packet.code, packet.reason) };
  if (packet.kind === 'o') throw new Error('an open packet is not queued');
  return packet;
}

function normalize(packet: Packet): unknown {
  if (packet.kind === 't' || packet.kind === 'b') return { kind: packet.kind, data: Buffer.from(packet.data).toString('hex') };
  return packet;
}

describe('polling batch format', () => {
  it('encodes a batch byte by byte: first sequence, then kind, length, colon, payload', () => {
    const bytes = encodeBatch(7, [
      { kind: 't', data: text('hi') },
      { kind: 'b', data: new Uint8Array([0, 0x3a, 0xff]) },
      { kind: 'c', code: 1000, reason: 'bye' },
    ]);
    assert.equal(ascii(bytes), '7;t2:hib3:\x00:\xffc8:1000 bye');
  });

  it('counts the packets of a batch however it is cut into chunks, as decodeBatch finds them (property, 2,000 cases)', () => {
    const r = rng(0xc0c0);
    for (let n = 0; n < 2000; n++) {
      const packets = Array.from({ length: Math.floor(r() * 8) }, () => randomPacket(r));
      const bytes = encodeBatch(1 + Math.floor(r() * 1e6), packets);
      const counter = new PacketCounter();
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(r() * 7);
        counter.feed(bytes.subarray(at, at + size));
        at += size;
      }
      assert.equal(counter.count, packets.length);
    }
  });

  it('stops counting one packet past its limit, and decodeBatch stops at maxPackets', () => {
    const bomb = text('1;' + 't0:'.repeat(100_000));
    const counter = new PacketCounter(10);
    counter.feed(bomb);
    assert.equal(counter.count, 11);
    assert.throws(() => decodeBatch(bomb, { maxPackets: 10 }), TooManyPackets);
    assert.equal(decodeBatch(text('1;' + 't0:'.repeat(10)), { maxPackets: 10 }).packets.length, 10);
  });

  it('never throws while counting random bytes (fuzz)', () => {
    const r = rng(0xbad);
    for (let n = 0; n < 5000; n++) {
      const bytes = Uint8Array.from({ length: Math.floor(r() * 40) }, () => (r() < 0.5 ? '0123456789;:tbc'.charCodeAt(Math.floor(r() * 15)) : Math.floor(r() * 256)));
      new PacketCounter().feed(bytes);
    }
  });

  it('encodes an empty batch as the next sequence number alone', () => {
    assert.equal(ascii(encodeBatch(12, [])), '12;');
  });

  it('round-trips random batches (property, 2,000 cases)', () => {
    const r = rng(0x5eed);
    for (let n = 0; n < 2000; n++) {
      const packets = Array.from({ length: Math.floor(r() * 6) }, () => randomPacket(r));
      const firstSeq = Math.floor(r() * 1e9);
      const decoded = decodeBatch(encodeBatch(firstSeq, packets), { validateText: true });
      assert.equal(decoded.firstSeq, firstSeq);
      assert.deepEqual(decoded.packets.map(normalize), packets.map(normalize));
    }
  });

  it('carries an open packet only where it is allowed', () => {
    const handshake = { sid: 'abc', transport: 'polling', hold: 1, interval: 2, heartbeat: 3, sessionTimeout: 4, maxBody: 5, ackDelay: 6, maxPackets: 7 };
    const bytes = encodeBatch(1, [{ kind: 'o', handshake }]);
    assert.deepEqual(decodeBatch(bytes, { allowOpen: true }).packets, [{ kind: 'o', handshake }]);
    assert.throws(() => decodeBatch(bytes), WireError);
  });

  const malformed: Array<[string, string]> = [
    ['an empty body', ''],
    ['no semicolon', '12'],
    ['a sign', '-1;'],
    ['a leading zero', '01;'],
    ['a sequence past 2^53', '99999999999999999;'],
    ['an unknown kind', '1;x1:a'],
    ['a missing length', '1;t:a'],
    ['a length with a leading zero', '1;t01:a'],
    ['a truncated payload', '1;t5:abc'],
    ['a truncated header', '1;t5'],
    ['a close without a code', '1;c3:bye'],
    ['a close code out of range', '1;c8:999 bye!'],
    ['a close without a space', '1;c4:1000'],
  ];
  for (const [what, body] of malformed) {
    it(`refuses ${what} with a WireError`, () => {
      assert.throws(() => decodeBatch(Buffer.from(body, 'latin1')), WireError);
    });
  }

  it('refuses ill-formed UTF-8 in a text packet when asked to validate', () => {
    const bytes = Buffer.concat([Buffer.from('1;t2:'), Buffer.from([0xc3, 0x28])]);
    assert.throws(() => decodeBatch(bytes, { validateText: true }), WireError);
    assert.equal(decodeBatch(bytes).packets.length, 1);
  });

  it('never throws anything but WireError on random bytes, and never reads past the end (fuzz, 20,000 cases)', () => {
    const r = rng(0xf022);
    const seeds = [encodeBatch(3, [{ kind: 't', data: text('hello') }, { kind: 'b', data: new Uint8Array([1, 2]) }, { kind: 'c', code: 1000, reason: '' }])];
    for (let n = 0; n < 20000; n++) {
      let bytes: Uint8Array;
      if (r() < 0.5) {
        bytes = new Uint8Array(Math.floor(r() * 24));
        for (let i = 0; i < bytes.length; i++) bytes[i] = r() < 0.5 ? '0123456789;:tbco '.charCodeAt(Math.floor(r() * 17)) : Math.floor(r() * 256);
      } else {
        // Mutations of a valid body: flips, truncations, insertions.
        bytes = Uint8Array.from(seeds[0]!);
        const edits = 1 + Math.floor(r() * 3);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(r() * bytes.length);
          const op = r();
          if (op < 0.4) bytes[at] = Math.floor(r() * 256);
          else if (op < 0.7) bytes = bytes.subarray(0, at);
          else bytes = Uint8Array.from([...bytes.subarray(0, at), '0123456789:;'.charCodeAt(Math.floor(r() * 12)), ...bytes.subarray(at)]);
        }
      }
      try {
        const decoded = decodeBatch(bytes, { allowOpen: true, validateText: true });
        // Whatever decodes re-encodes to the same bytes: one spelling per value.
        const packets = decoded.packets.filter((p) => p.kind !== 'o');
        if (packets.length === decoded.packets.length) assert.equal(ascii(encodeBatch(decoded.firstSeq, packets)), ascii(bytes));
      } catch (error) {
        assert.ok(error instanceof WireError, `unexpected ${String(error)} for ${Buffer.from(bytes).toString('hex')}`);
      }
    }
  });
});

describe('queued packets: the encoders a sender writes its queue with', () => {
  const HANDSHAKE = { sid: 's', transport: 'polling', hold: 1, interval: 1, heartbeat: 1, sessionTimeout: 1, maxBody: 1, ackDelay: 1, maxPackets: 1 };

  it('writes the same batch as encodeBatch, from the queued bytes, without copying payloads', () => {
    const r = rng(0xba7c4);
    for (let n = 0; n < 2000; n++) {
      const packets = Array.from({ length: Math.floor(r() * 6) }, () => randomPacket(r));
      const firstSeq = 1 + Math.floor(r() * 1e9);
      const parts = queuedBatchParts(firstSeq, packets.map(queued));
      assert.deepEqual(concat(parts), encodeBatch(firstSeq, packets));
      for (const packet of packets) if ((packet.kind === 't' || packet.kind === 'b') && packet.data.length > 0) assert.ok(parts.includes(packet.data));
    }
  });

  it('puts the open packet first, taking no sequence number', () => {
    const batch = decodeBatch(concat(queuedBatchParts(1, [{ kind: 't', data: text('hi') }], HANDSHAKE)), { allowOpen: true });
    assert.equal(batch.firstSeq, 1);
    assert.deepEqual(batch.packets.map((p) => p.kind), ['o', 't']);
  });

  it('writes the same SSE event as ssePacketEvent, for every kind (property, 2,000 cases)', () => {
    const r = rng(0x55e);
    for (let n = 0; n < 2000; n++) {
      const packet = randomPacket(r);
      if (packet.kind === 'o') continue;
      const seq = 1 + Math.floor(r() * 1e6);
      assert.equal(sseQueuedEvent(seq, queued(packet)), ssePacketEvent(seq, packet));
    }
  });

  it('uses the conversions it is given (a server passes native ones)', () => {
    const native = { utf8: (b: Uint8Array) => Buffer.from(b).toString('utf8'), base64: (b: Uint8Array) => Buffer.from(b).toString('base64') };
    const bytes = new Uint8Array([0, 255, 7]);
    assert.equal(sseQueuedEvent(4, { kind: 'b', data: bytes }, native), `id: 4\ndata: b${Buffer.from(bytes).toString('base64')}\n\n`);
  });

  it('heads a resumed stream with retry alone, a new one with the session event', () => {
    assert.equal(sseRetryEvent(3000), 'retry: 3000\n\n');
    const events = new SseParser().feed(sseOpenEvent(HANDSHAKE, 3000));
    assert.equal(events[0]!.type, 'session');
    assert.deepEqual(decodeHandshake(events[0]!.data), HANDSHAKE);
  });
});

describe('handshake and close decoders', () => {
  it('decodes a handshake and refuses one missing a field or with a bad number', () => {
    const good = { sid: 's', transport: 'sse', hold: 1, interval: 2, heartbeat: 3, sessionTimeout: 4, maxBody: 5, ackDelay: 6, maxPackets: 7 };
    assert.deepEqual(decodeHandshake(JSON.stringify(good)), good);
    for (const bad of ['', 'null', '[]', '"x"', JSON.stringify({ ...good, sid: 1 }), JSON.stringify({ ...good, hold: -1 }), JSON.stringify({ ...good, maxBody: '5' })]) {
      assert.throws(() => decodeHandshake(bad), WireError, bad);
    }
  });

  it('decodes "code reason" closes and refuses anything else', () => {
    assert.deepEqual(decodeClose('1000 '), { kind: 'c', code: 1000, reason: '' });
    assert.deepEqual(decodeClose('4001 a b\nc'), { kind: 'c', code: 4001, reason: 'a b\nc' });
    for (const bad of ['', '1000', '999 x', '5000 x', ' 1000 x', '1000x', '01000 x']) assert.throws(() => decodeClose(bad), WireError, bad);
  });

  it('never throws anything but WireError on random input (fuzz)', () => {
    const r = rng(0xc105e);
    const pieces = ['{', '}', '"sid"', ':', '"x"', ',', '"hold"', '1', '-', 'null', '[', ']', ' ', '1000', 'é', '\\u0000'];
    for (let n = 0; n < 5000; n++) {
      let text = '';
      for (let i = 0, k = Math.floor(r() * 12); i < k; i++) text += pieces[Math.floor(r() * pieces.length)];
      for (const decode of [decodeHandshake, decodeClose]) {
        try {
          decode(text);
        } catch (error) {
          assert.ok(error instanceof WireError, `unexpected ${String(error)} for ${JSON.stringify(text)}`);
        }
      }
    }
  });
});

describe('base64', () => {
  it('matches Node for random bytes of every length up to 300', () => {
    const r = rng(64);
    for (let n = 0; n <= 300; n++) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      const expected = Buffer.from(bytes).toString('base64');
      assert.equal(toBase64(bytes), expected);
      assert.deepEqual(Buffer.from(fromBase64(expected)), Buffer.from(bytes));
    }
  });

  it('refuses bad characters, bad lengths and non-canonical padding bits', () => {
    for (const bad of ['A', 'AB=', 'A===', '****', 'QQ=A', 'QR==', 'QUF=', 'Zm9v\n']) {
      assert.throws(() => fromBase64(bad), WireError, bad);
    }
  });
});

describe('SSE format', () => {
  it('writes an event with the sequence as id and LFs as extra data lines', () => {
    assert.equal(ssePacketEvent(5, { kind: 't', data: text('a\nb') }), 'id: 5\ndata: ta\ndata: b\n\n');
    assert.equal(ssePacketEvent(6, { kind: 'b', data: new Uint8Array([255, 0]) }), 'id: 6\ndata: b/wA=\n\n');
    assert.equal(ssePacketEvent(7, { kind: 't', data: text('x\ry') }), 'id: 7\ndata: j"x\\ry"\n\n');
    assert.equal(ssePacketEvent(8, { kind: 'c', code: 1000, reason: 'bye' }), 'id: 8\ndata: c1000 bye\n\n');
  });

  it('parses the WHATWG examples: comments, fields without colon, a space after the colon, retry', () => {
    const parser = new SseParser();
    const events = parser.feed(': comment\ndata: first\ndata\ndata:  two spaces\nevent: add\nid: 9\nretry: 1500\nunknown: x\n\n');
    assert.deepEqual(events, [{ type: 'add', data: 'first\n\n two spaces', lastEventId: '9' }]);
    assert.equal(parser.retry, 1500);
    // The id persists to later events; an event with no data is not dispatched.
    assert.deepEqual(parser.feed('event: nothing\n\ndata: x\n\n'), [{ type: 'message', data: 'x', lastEventId: '9' }]);
  });

  it('accepts CR, LF and CRLF line ends and a leading BOM', () => {
    const parser = new SseParser();
    const events = parser.push(new TextEncoder().encode('\ufeffdata: a\r\rdata: b\r\n\r\ndata: c\n\n'));
    assert.deepEqual(events.map((e) => e.data), ['a', 'b', 'c']);
  });

  it('gives the same events however the stream is cut, even between CR and LF or inside a character (property)', () => {
    const r = rng(0x55e);
    for (let n = 0; n < 300; n++) {
      const packets = Array.from({ length: 1 + Math.floor(r() * 5) }, () => randomPacket(r)).filter((p) => p.kind !== 'c' || p.code !== 1005);
      const ending = ['\n', '\r\n', '\r'][Math.floor(r() * 3)]!;
      let stream = sseOpenEvent({ sid: 's', transport: 'sse', hold: 1, interval: 1, heartbeat: 1, sessionTimeout: 1, maxBody: 1, ackDelay: 1, maxPackets: 1 }, 100);
      packets.forEach((p, i) => (stream += ssePacketEvent(i + 1, p as never) + (i % 2 ? ':\n\n' : '')));
      stream = stream.replace(/\n/g, ending);
      const bytes = new TextEncoder().encode(stream);
      const whole = new SseParser().push(bytes);
      const parser = new SseParser();
      const pieces = [];
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(r() * 7);
        pieces.push(...parser.push(bytes.subarray(at, at + size)));
        at += size;
      }
      assert.deepEqual(pieces, whole);
      assert.equal(whole.length, packets.length + 1);
      assert.equal(whole[0]!.type, 'session');
      whole.slice(1).forEach((event, i) => {
        assert.equal(event.lastEventId, String(i + 1));
        assert.deepEqual(normalize(decodeSseData(event.data)), normalize(packets[i]!));
      });
    }
  });

  it('keeps a CR that ends a chunk across an empty chunk: CR, nothing, LF is one line end (regression)', () => {
    const parser = new SseParser();
    const events = [
      ...parser.push(new TextEncoder().encode('data: a\r')),
      ...parser.push(new Uint8Array(0)),
      ...parser.push(Uint8Array.of(0x0a)),
    ];
    assert.deepEqual(events, []);
    assert.deepEqual(parser.feed('\n').map((e) => e.data), ['a']);
  });

  it('never throws anything but WireError when decoding random data fields (fuzz)', () => {
    const r = rng(7);
    for (let n = 0; n < 5000; n++) {
      const data = ['t', 'b', 'c', 'C', 'j', 'x', ''][Math.floor(r() * 7)] + randomText(r, 12).replace(/[\r\n]/g, '');
      try {
        decodeSseData(data);
      } catch (error) {
        assert.ok(error instanceof WireError, `unexpected ${String(error)} for ${JSON.stringify(data)}`);
      }
    }
  });

  it('never throws while parsing random streams (fuzz)', () => {
    const r = rng(99);
    for (let n = 0; n < 2000; n++) {
      const parser = new SseParser();
      for (let k = 0; k < 5; k++) parser.feed(randomText(r, 30));
    }
  });
});

describe('SseParser bounds and byte order marks', () => {
  it('strips one byte order mark at the start of the stream, as UTF-8 decode does, and keeps one in data', () => {
    const parser = new SseParser();
    const bytes = Buffer.concat([Buffer.from('efbbbf', 'hex'), Buffer.from('data: \ufeffhi\n\n')]);
    assert.deepEqual(parser.push(bytes).map((e) => e.data), ['\ufeffhi']);
    // A second mark at the start is part of the first field name, which is then no field.
    const twice = new SseParser();
    assert.deepEqual(twice.push(Buffer.from('efbbbfefbbbf646174613a310a0a646174613a320a0a', 'hex')).map((e) => e.data), ['2']);
  });

  it('refuses a line or an event longer than its limit with a WireError, whatever the chunking', () => {
    const parser = new SseParser(1024);
    assert.throws(() => {
      for (let i = 0; i < 10; i++) parser.push(Buffer.from('a'.repeat(200)));
    }, WireError);
    const events = new SseParser(1024);
    assert.throws(() => {
      for (let i = 0; i < 10; i++) events.push(Buffer.from(`data: ${'b'.repeat(200)}\n`));
    }, WireError);
  });

  it('reads a long line that arrives in many chunks in one piece', () => {
    const parser = new SseParser();
    const chunk = 'x'.repeat(16 * 1024);
    const got: string[] = [];
    got.push(...parser.push(Buffer.from('data: ')).map((e) => e.data));
    for (let i = 0; i < 256; i++) got.push(...parser.push(Buffer.from(chunk)).map((e) => e.data));
    got.push(...parser.push(Buffer.from('\r')).map((e) => e.data));
    got.push(...parser.push(Buffer.from('\n\n')).map((e) => e.data));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.length, 256 * chunk.length);
  });
});
