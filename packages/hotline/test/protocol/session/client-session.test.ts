import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  ClientSession,
  type ClientSessionOptions,
  type SessionTransport,
  UpgradePhase,
  failureAction,
} from '../../../src/protocol/session/client-session.js';
import {
  type Handshake,
  type Packet,
  WireError,
  decodeBatch,
  encodeBatch,
  sseOpenEvent,
  ssePacketEvent,
} from '../../../src/protocol/session/wire.js';

const text = (s: string) => new TextEncoder().encode(s);
const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

const HANDSHAKE: Handshake = {
  sid: 'S1',
  transport: 'long-polling',
  hold: 25_000,
  interval: 1000,
  heartbeat: 10_000,
  sessionTimeout: 30_000,
  maxBody: 200,
  ackDelay: 300,
  maxPackets: 3,
};

/** A clock the test moves by hand. */
function fakeClock(start = 1000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

function session(transport: SessionTransport, clock = fakeClock(), options: Partial<ClientSessionOptions> = {}): ClientSession {
  return new ClientSession({ transport, interval: undefined, openTimeout: 10_000, requestTimeout: 20_000, maxOverlap: 4, now: clock.now, ...options });
}

/** The handshake answer: `0;o<len>:{json}` then any packets from sequence number 1. */
function openAnswer(handshake: Handshake, ...packets: Packet[]): Uint8Array {
  return encodeBatch(1, [{ kind: 'o', handshake }, ...packets]);
}

function opened(transport: SessionTransport, clock = fakeClock(), options: Partial<ClientSessionOptions> = {}): ClientSession {
  const s = session(transport, clock, options);
  s.receiveBatch(openAnswer({ ...HANDSHAKE, transport }));
  return s;
}

const t = (s: string): Packet => ({ kind: 't', data: text(s) });
const texts = (packets: readonly Packet[]) => packets.map((p) => (p.kind === 't' ? new TextDecoder().decode(p.data) : p.kind));

describe('ClientSession: downstream', () => {
  it('opens on a handshake answer and returns the open packet first, then its messages', () => {
    const s = session('long-polling');
    // "1;o<n>:{...}t2:hit2:yo"
    const packets = s.receiveBatch(openAnswer(HANDSHAKE, t('hi'), t('yo')));
    assert.deepEqual(texts(packets), ['o', 'hi', 'yo']);
    assert.equal(s.sid, 'S1');
    assert.equal(s.ack, 2);
  });

  it('refuses a first answer without the open packet', () => {
    const s = session('polling');
    assert.throws(() => s.receiveBatch(text('1;t2:hi')), WireError);
    assert.equal(s.opened, false);
  });

  it('refuses an open packet inside a session', () => {
    const s = opened('polling');
    assert.throws(() => s.receiveBatch(openAnswer(HANDSHAKE)), WireError);
  });

  it('drops what it already has and delivers the rest once, in order', () => {
    const s = opened('long-polling');
    assert.deepEqual(texts(s.receiveBatch(text('1;t1:at1:b'))), ['a', 'b']);
    // A resend after a lost answer: 1 and 2 again, then 3.
    assert.deepEqual(texts(s.receiveBatch(text('1;t1:at1:bt1:c'))), ['c']);
    assert.equal(s.ack, 3);
  });

  it('skips a batch that leaves a gap (the next poll, naming the ack, brings it again)', () => {
    const s = opened('long-polling');
    assert.deepEqual(texts(s.receiveBatch(text('5;t1:x'))), []);
    assert.equal(s.ack, 0);
  });

  it('ends at a close packet: it is the last packet returned, nothing follows', () => {
    const s = opened('polling');
    // "1;t1:a c9:1000 done t1:b"
    const packets = s.receiveBatch(text('1;t1:ac9:1000 donet1:b'));
    assert.deepEqual(texts(packets), ['a', 'c']);
    assert.deepEqual(packets[1], { kind: 'c', code: 1000, reason: 'done' });
    assert.equal(s.finished, true);
    assert.deepEqual(s.receiveBatch(text('4;t1:z')), []);
  });

  it('reads an SSE stream in any chunking: the session event opens, ids order and dedup', () => {
    const stream = sseOpenEvent({ ...HANDSHAKE, transport: 'sse' }, 2000) + ssePacketEvent(1, { kind: 't', data: text('a\nb') }) + ssePacketEvent(1, { kind: 't', data: text('dup') }) + ssePacketEvent(2, { kind: 'b', data: new Uint8Array([0, 255]) }) + ':\n\n';
    const bytes = text(stream);
    for (const step of [1, 3, 7, bytes.length]) {
      const s = session('sse');
      const out: Packet[] = [];
      for (let i = 0; i < bytes.length; i += step) out.push(...s.receiveStream(bytes.subarray(i, i + step)));
      assert.deepEqual(texts(out), ['o', 'a\nb', 'b'], `chunks of ${step}`);
      assert.deepEqual([...(out[2] as { data: Uint8Array }).data], [0, 255]);
      assert.equal(s.ack, 2);
    }
  });

  it('ignores stream messages before the session event and refuses an id that is not a number', () => {
    const s = session('sse');
    assert.deepEqual(s.receiveStream(text('data: tearly\n\n')), []);
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000)));
    assert.throws(() => s.receiveStream(text('id: x\ndata: tnot a number\n\n')), WireError);
  });

  it('starts a fresh parse on a resumed stream and keeps the order across streams', () => {
    const s = session('sse');
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000) + ssePacketEvent(1, { kind: 't', data: text('a') }) + 'data: tcut in ha'));
    s.restartStream();
    // The new stream repeats the session event and resends 1: only 2 is new.
    const out = s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000) + ssePacketEvent(1, { kind: 't', data: text('a') }) + ssePacketEvent(2, { kind: 't', data: text('b') })));
    assert.deepEqual(texts(out), ['b']);
  });
});

describe('ClientSession: upstream', () => {
  it('numbers messages from 1 and posts them as one batch carrying the ack', () => {
    const s = opened('long-polling');
    s.receiveBatch(text('1;t1:x'));
    assert.equal(s.send('t', text('hi')), true);
    assert.equal(s.send('b', new Uint8Array([1, 2])), true);
    assert.equal(s.upBytes, 4);
    const body = s.takeBatch(false)!;
    assert.equal(ascii(body), '1;t2:hib2:\x01\x02');
    assert.equal(s.batchAck, 1);
    // One body at a time: nothing more while it is in flight.
    s.send('t', text('3'));
    assert.equal(s.takeBatch(false), null);
    assert.equal(s.batchAcknowledged(), false);
    assert.equal(s.lastAckSent, 1);
    assert.equal(ascii(s.takeBatch(false)!), '3;t1:3');
  });

  it('resends a lost body whole, with what was queued meanwhile', () => {
    const s = opened('polling');
    s.send('t', text('a'));
    s.takeBatch(false);
    s.send('t', text('b'));
    s.batchFailed();
    assert.equal(ascii(s.takeBatch(false)!), '1;t1:at1:b');
    s.batchAcknowledged();
    assert.equal(s.upBytes, 0);
    assert.equal(s.takeBatch(false), null);
  });

  it("splits bodies at the server's maxPackets and maxBody", () => {
    const s = opened('polling');
    for (const m of ['a', 'b', 'c', 'd']) s.send('t', text(m));
    // maxPackets 3
    assert.equal(ascii(s.takeBatch(false)!), '1;t1:at1:bt1:c');
    s.batchAcknowledged();
    assert.equal(ascii(s.takeBatch(false)!), '4;t1:d');
    s.batchAcknowledged();
    // maxBody 200: two messages of 90 bytes do not fit together.
    s.send('t', text('x'.repeat(90)));
    s.send('t', text('y'.repeat(90)));
    assert.equal(decodeBatch(s.takeBatch(false)!).packets.length, 1);
  });

  it("refuses a message no body under the server's maxBody could carry", () => {
    const s = opened('polling');
    assert.equal(s.send('t', text('x'.repeat(180))), false);
    assert.equal(s.queued, 0);
  });

  it('posts an ack alone only when asked and when one is owed (SSE)', () => {
    const s = session('sse');
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000)));
    assert.equal(s.takeBatch(true), null);
    s.receiveStream(text(ssePacketEvent(1, { kind: 't', data: text('a') })));
    assert.equal(s.takeBatch(false), null);
    assert.equal(ascii(s.takeBatch(true)!), '1;');
    assert.equal(s.batchAck, 1);
    s.batchAcknowledged();
    assert.equal(s.takeBatch(true), null);
  });

  it('ends cleanly once the close packet is acknowledged', () => {
    const s = opened('long-polling');
    s.send('t', text('bye'));
    s.sendClose(4000, 'done');
    assert.equal(ascii(s.takeBatch(false)!), '1;t3:byec9:4000 done');
    assert.equal(s.batchAcknowledged(), true);
    assert.equal(s.finished, true);
  });

  it("acknowledges the server's close with an empty batch after the last number used", () => {
    const s = opened('polling');
    s.send('t', text('a'));
    assert.equal(ascii(s.closeAcknowledgement()), '2;');
  });
});

describe('ClientSession: timing (fake clock)', () => {
  it('long polls at once, allowing the hold and a grace; short polls wait the interval', () => {
    const long = opened('long-polling');
    assert.equal(long.pollDelay(), 0);
    assert.equal(long.pollTimeout(), 25_000 + 15_000);
    const short = opened('polling');
    assert.equal(short.pollDelay(), 1000);
    assert.equal(short.pollTimeout(), 20_000);
    assert.equal(opened('polling', fakeClock(), { interval: 250 }).pollDelay(), 250, 'the option wins over the server');
  });

  it('keeps the interval clock on its beat, and skips ticks a stalled timer missed', () => {
    const clock = fakeClock();
    const s = opened('interval-polling', clock);
    s.startClock();
    assert.equal(s.nextTickDelay(), 1000);
    clock.advance(1030); // the timer ran 30 ms late
    assert.equal(s.nextTickDelay(), 970);
    clock.advance(970 + 3500); // stalled for three and a half intervals
    assert.equal(s.nextTickDelay(), 500);
  });

  it('bounds overlapping interval polls and holds them during a backoff', () => {
    const s = opened('interval-polling', fakeClock(), { maxOverlap: 2 });
    assert.equal(s.mayPoll(false), true);
    s.pollsInFlight = 2;
    assert.equal(s.mayPoll(false), false);
    s.pollsInFlight = 1;
    assert.equal(s.mayPoll(true), false);
  });

  it('acknowledges SSE at most once per ackDelay', () => {
    const s = session('sse');
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000) + ssePacketEvent(1, { kind: 't', data: text('a') })));
    assert.equal(s.ackDelay(), 300);
    assert.equal(s.ackDelay(), -1);
    assert.equal(s.ackDue(), true);
    assert.equal(s.ackDelay(), 300);
  });

  it('declares a stream dead after two silent heartbeats and a grace', () => {
    const s = session('sse');
    assert.equal(s.streamTimeout(), -1);
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000)));
    assert.equal(s.streamTimeout(), 2 * 10_000 + 5_000);
  });

  it('counts the session’s life from the last answer and keeps retries inside it', () => {
    const clock = fakeClock();
    const s = opened('long-polling', clock);
    clock.advance(10_000);
    assert.equal(s.expiresIn(), 20_000);
    assert.equal(s.failed(), 1);
    assert.equal(s.retryDelay(500), 500);
    assert.equal(s.retryDelay(60_000), 19_000, 'a second before the server forgets');
    clock.advance(25_000);
    assert.ok(s.expiresIn() < 0);
    assert.equal(s.succeeded(), true, 'an answer after failures is a resumption');
    assert.equal(s.succeeded(), false);
    assert.equal(s.expiresIn(), 30_000);
  });

  it('counts an open stream as alive: its life runs from the last chunk', () => {
    const clock = fakeClock();
    const s = session('sse', clock);
    s.receiveStream(text(sseOpenEvent(HANDSHAKE, 1000)));
    clock.advance(60_000);
    s.receiveStream(text(':\n\n'));
    clock.advance(1000);
    assert.equal(s.expiresIn(), 29_000);
  });

  it('tells a lost session from one to retry', () => {
    assert.equal(failureAction(0, ''), 'retry');
    assert.equal(failureAction(503, ''), 'retry');
    assert.equal(failureAction(429, ''), 'retry');
    assert.equal(failureAction(408, ''), 'retry');
    assert.equal(failureAction(410, ''), 'lost');
    assert.equal(failureAction(404, 'HL_ERR_UNKNOWN_SESSION'), 'lost');
    assert.equal(failureAction(409, 'HL_ERR_SESSION_EVICTED'), 'evicted');
    assert.equal(failureAction(403, 'HL_ERR_FORBIDDEN'), 'refused');
  });
});

describe('ClientSession: session upgrade', () => {
  it('probes, pauses, fixes the downstream number, then resends what the server lacks', () => {
    const s = opened('long-polling');
    s.receiveBatch(text('1;t1:at1:b'));
    for (const m of ['u1', 'u2', 'u3']) s.send('t', text(m));
    s.takeBatch(false);
    s.batchAcknowledged(); // the server has 1..3
    s.send('t', text('u4'));
    assert.equal(s.startUpgrade(), 'probe');
    assert.equal(s.receiveUpgradeMessage('probe'), 'pause');
    // Paused: what still arrives over HTTP is not delivered (the WebSocket brings it).
    assert.deepEqual(s.receiveBatch(text('3;t1:c')), []);
    assert.equal(s.upgradeRequest(), 'upgrade 2');
    assert.equal(s.receiveUpgradeMessage('upgraded 3'), 'switch');
    assert.equal(s.upgradePhase, UpgradePhase.CARRIER);
    assert.deepEqual(texts(s.resendAfter()), ['u4']);
    assert.equal(s.upBytes, 0);
    assert.equal(s.queued, 0);
  });

  it('abandons on any other answer, and HTTP goes on as before', () => {
    const s = opened('polling');
    s.startUpgrade();
    assert.equal(s.receiveUpgradeMessage('upgraded 1'), 'abandon', 'out of order');
    s.abandonUpgrade();
    assert.equal(s.upgradePhase, UpgradePhase.NONE);
    assert.deepEqual(texts(s.receiveBatch(text('1;t1:a'))), ['a']);
    s.startUpgrade();
    s.receiveUpgradeMessage('probe');
    assert.equal(s.receiveUpgradeMessage('probe'), 'abandon', 'a second probe');
  });
});

describe('ClientSession against the server codecs', () => {
  it('round-trips a session: what the client posts decodes on the server side, what the server sends arrives once', () => {
    const clock = fakeClock();
    const s = session('long-polling', clock);
    // Server side: answers are built with the server's encoder, from its own numbering.
    const serverQueue: Packet[] = [];
    let serverFirst = 1;
    let serverReceived = 0;
    const received: string[] = [];
    const answer = (ack: number) => {
      // The server drops what the ack confirms and sends the rest.
      while (serverFirst <= ack) {
        serverQueue.shift();
        serverFirst++;
      }
      return encodeBatch(serverFirst, serverQueue);
    };
    const post = (body: Uint8Array) => {
      const batch = decodeBatch(body, { validateText: true, maxPackets: HANDSHAKE.maxPackets });
      batch.packets.forEach((p, i) => {
        const seq = batch.firstSeq + i;
        if (seq <= serverReceived) return;
        serverReceived = seq;
        if (p.kind === 't') received.push(new TextDecoder().decode(p.data));
      });
    };

    s.receiveBatch(openAnswer(HANDSHAKE));
    const delivered: string[] = [];
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < round % 3; k++) serverQueue.push(t(`down ${round}.${k}`));
      s.send('t', text(`up ${round}`));
      const body = s.takeBatch(false);
      if (body !== null) {
        post(body);
        // Every fourth answer is lost on the way back: the client resends, the server dedups.
        if (round % 4 === 3) s.batchFailed();
        else s.batchAcknowledged();
      }
      const polled = answer(s.ack);
      // Every fifth poll answer is lost: the next one brings the same packets again.
      if (round % 5 !== 4) delivered.push(...texts(s.receiveBatch(polled)));
      clock.advance(s.pollDelay());
    }
    while (s.queued > 0) {
      post(s.takeBatch(false)!);
      s.batchAcknowledged();
    }
    delivered.push(...texts(s.receiveBatch(answer(s.ack))));
    const expectedDown: string[] = [];
    for (let round = 0; round < 20; round++) for (let k = 0; k < round % 3; k++) expectedDown.push(`down ${round}.${k}`);
    assert.deepEqual(delivered, expectedDown);
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => `up ${i}`));
  });
});
