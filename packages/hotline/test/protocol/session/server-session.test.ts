import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadyState } from '../../../src/protocol/ready-state.js';
import {
  AckOutcome,
  ENTRY_BYTES,
  ServerSession,
  SessionDeadline,
  type ServerSessionLimits,
  packetCost,
} from '../../../src/protocol/session/server-session.js';
import { decodeBatch, decodeSseData, queuedBatchParts, concat, SseParser, sseQueuedEvent } from '../../../src/protocol/session/wire.js';

const LIMITS: ServerSessionLimits = {
  maxQueue: 1000,
  maxQueueMessages: 8,
  hold: 100,
  heartbeat: 50,
  sessionTimeout: 400,
  confirmTimeout: 200,
  closeTimeout: 300,
  probeTimeout: 150,
};

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** A session created at t = 1000 on a fake clock. */
function newSession(limits: Partial<ServerSessionLimits> = {}): ServerSession {
  return new ServerSession({ ...LIMITS, ...limits }, 1000);
}

function push(session: ServerSession, ...messages: string[]): void {
  for (const m of messages) session.push('t', text(m), packetCost(m.length, 0));
}

describe('ServerSession: downstream sequencing', () => {
  it('numbers packets from 1, in order, and a batch of the queue starts at the first', () => {
    const session = newSession();
    push(session, 'a', 'b', 'c');
    assert.deepEqual(session.packets.map((p) => p.seq), [1, 2, 3]);
    assert.equal(session.firstSeq, 1);
    assert.equal(session.nextSeq, 4);
    const batch = decodeBatch(concat(queuedBatchParts(session.firstSeq, session.packets)));
    assert.equal(batch.firstSeq, 1);
    assert.deepEqual(batch.packets.map((p) => (p.kind === 't' ? decode(p.data) : p.kind)), ['a', 'b', 'c']);
  });

  it('counts payload bytes in bufferedAmount and payload plus entry in its cost', () => {
    const session = newSession();
    push(session, 'hello');
    assert.equal(session.bufferedAmount, 5);
    assert.equal(session.cost, 5 + ENTRY_BYTES);
  });
});

describe('ServerSession: acknowledgements', () => {
  it('an ack frees what it covers, and only once', () => {
    const session = newSession();
    push(session, 'a', 'b', 'c');
    session.markSent(3);
    assert.equal(session.acknowledge(2), AckOutcome.FREED);
    assert.deepEqual(session.packets.map((p) => p.seq), [3]);
    assert.equal(session.bufferedAmount, 1);
    assert.equal(session.firstSeq, 3);
    assert.equal(session.acknowledge(2), AckOutcome.NONE);
    assert.equal(session.acknowledge(1), AckOutcome.NONE, 'an ack that goes backwards changes nothing');
    assert.equal(session.packets.length, 1);
  });

  it('an ack beyond what was handed to a response is refused and frees nothing', () => {
    const session = newSession();
    push(session, 'a', 'b');
    session.markSent(1);
    assert.equal(session.mayAcknowledge(2), false);
    assert.equal(session.acknowledge(2), AckOutcome.BEYOND_SENT);
    assert.equal(session.packets.length, 2);
    assert.equal(session.ackedSeq, 0);
  });

  it('owes drain once the queue empties after a refused send', () => {
    const session = newSession({ maxQueueMessages: 1 });
    push(session, 'a');
    assert.equal(session.fits(1, 0), false, 'one message is the limit');
    session.markSent(1);
    assert.equal(session.acknowledge(1), AckOutcome.DRAINED);
    assert.equal(session.takeDrain(), false, 'drain is owed once');
  });
});

describe('ServerSession: budgets', () => {
  it('refuses a message over maxQueue, counting the bytes responses hold', () => {
    const session = newSession({ maxQueue: 10 });
    push(session, '12345');
    assert.equal(session.fits(5, 0), true);
    assert.equal(session.fits(5, 1), false, 'held response bytes count');
  });

  it('accepts one message larger than maxQueue when nothing is held', () => {
    const session = newSession({ maxQueue: 10 });
    assert.equal(session.fits(100, 0), true);
    assert.equal(session.fits(100, 1), false);
  });

  it('refuses past maxQueueMessages', () => {
    const session = newSession({ maxQueueMessages: 2 });
    push(session, 'a', 'b');
    assert.equal(session.fits(1, 0), false);
  });
});

describe('ServerSession: upstream order', () => {
  it('delivers each number once: a resent batch is dropped', () => {
    const session = newSession();
    assert.ok(session.follows(1));
    assert.deepEqual([1, 2, 3].map((seq) => session.receive(seq)), [true, true, true]);
    assert.ok(session.follows(2), 'a batch overlapping what arrived is a resend');
    assert.deepEqual([2, 3, 4].map((seq) => session.receive(seq)), [false, false, true]);
    assert.equal(session.receivedSeq, 4);
  });

  it('refuses a batch that leaves a gap, and one numbered 0', () => {
    const session = newSession();
    session.receive(1);
    assert.equal(session.follows(3), false);
    assert.equal(session.follows(0), false);
    assert.equal(session.follows(2), true);
  });
});

describe('ServerSession: the close packet', () => {
  it('is queued once after the messages, as "code reason" bytes every encoder writes', () => {
    const session = newSession();
    push(session, 'last');
    session.close(4000, 'bye', 1000);
    assert.equal(session.readyState, ReadyState.CLOSING);
    const close = session.packets[1]!;
    assert.equal(close.kind, 'c');
    assert.equal(decode(close.data), '4000 bye');
    assert.equal(session.closingSeq, 2);
    const batch = decodeBatch(concat(queuedBatchParts(session.firstSeq, session.packets)));
    assert.deepEqual(batch.packets[1], { kind: 'c', code: 4000, reason: 'bye' });
    const events = new SseParser().feed(sseQueuedEvent(close.seq, close));
    assert.deepEqual(decodeSseData(events[0]!.data), { kind: 'c', code: 4000, reason: 'bye' });
    assert.equal(events[0]!.lastEventId, '2');
  });

  it('a reason SSE cannot carry raw goes as JSON', () => {
    const session = newSession();
    session.close(4001, 'a\rb', 1000);
    const events = new SseParser().feed(sseQueuedEvent(1, session.packets[0]!));
    assert.ok(events[0]!.data.startsWith('C'));
    assert.deepEqual(decodeSseData(events[0]!.data), { kind: 'c', code: 4001, reason: 'a\rb' });
  });

  it('the ack of the close packet ends the session', () => {
    const session = newSession();
    session.close(1000, '', 1000);
    session.markSent(1);
    assert.equal(session.acknowledge(1), AckOutcome.CLOSED);
    assert.equal(session.closingCode, 1000);
  });

  it('is due with CLOSE at closeTimeout when the client never acknowledges it', () => {
    const session = newSession();
    session.heard(1000);
    session.close(1000, '', 1100);
    assert.equal(session.tick(1399) & SessionDeadline.CLOSE, 0);
    assert.equal(session.tick(1400) & SessionDeadline.CLOSE, SessionDeadline.CLOSE);
  });

  it('an eviction leaves the close packet alone in the queue', () => {
    const session = newSession();
    push(session, 'a', 'b');
    session.evict(1013, 'out of memory');
    assert.equal(session.packets.length, 1);
    assert.equal(session.packets[0]!.seq, 3);
    assert.equal(decode(session.packets[0]!.data), '1013 out of memory');
    assert.equal(session.cost, 0);
  });

  it('ends with nothing queued and no deadline', () => {
    const session = newSession();
    push(session, 'a');
    session.end();
    assert.equal(session.readyState, ReadyState.CLOSED);
    assert.equal(session.packets.length, 0);
    assert.equal(session.tick(1_000_000), 0);
  });
});

describe('ServerSession: deadlines on an injected clock', () => {
  it('expires a session its client never came back to at confirmTimeout', () => {
    const session = newSession();
    assert.equal(session.tick(1199), 0);
    assert.equal(session.tick(1200), SessionDeadline.EXPIRED);
  });

  it('confirms at confirmTimeout a client that holds a poll open', () => {
    const session = newSession({ hold: 10_000 });
    session.holdFrom(1100);
    assert.equal(session.tick(1200), SessionDeadline.CONFIRMED);
    assert.ok(session.isConfirmed);
  });

  it('a confirmed session expires sessionTimeout after it was last heard from, with nothing held', () => {
    const session = newSession();
    assert.ok(session.confirm());
    assert.equal(session.confirm(), false, 'once');
    session.heard(2000);
    assert.equal(session.tick(2400), 0);
    assert.equal(session.tick(2401), SessionDeadline.EXPIRED);
  });

  it('never expires while a request is in progress; the clock starts when it ends', () => {
    const session = newSession();
    session.confirm();
    session.requestBegan();
    assert.equal(session.tick(10_000), 0);
    session.requestEnded(10_000);
    assert.equal(session.tick(10_400), 0);
    assert.equal(session.tick(10_401), SessionDeadline.EXPIRED);
  });

  it('answers a held poll at hold, once, and starts the expiry clock when it is answered', () => {
    const session = newSession();
    session.confirm();
    session.holdFrom(1000);
    assert.equal(session.tick(1099), 0);
    assert.equal(session.tick(1100), SessionDeadline.HOLD);
    assert.equal(session.tick(1101), 0, 'disarmed once reported');
    session.detach(1100);
    assert.equal(session.tick(1500), 0);
    assert.equal(session.tick(1501), SessionDeadline.EXPIRED);
  });

  it('beats the heart of an open stream every heartbeat, and never expires it', () => {
    const session = newSession();
    session.streamFrom(1000);
    const beats: number[] = [];
    for (let now = 1000; now <= 1300; now += 10) if (session.tick(now) & SessionDeadline.HEARTBEAT) beats.push(now);
    assert.deepEqual(beats, [1050, 1100, 1150, 1200, 1250, 1300]);
    assert.ok(session.isConfirmed, 'an open stream confirms the session');
  });

  it('gives a probe probeTimeout to upgrade', () => {
    const session = newSession();
    session.confirm();
    session.probeFrom(1000);
    assert.equal(session.tick(1149) & SessionDeadline.PROBE, 0);
    assert.equal(session.tick(1150) & SessionDeadline.PROBE, SessionDeadline.PROBE);
    assert.equal(session.tick(1151) & SessionDeadline.PROBE, 0);
  });

  it('leaves every deadline to the WebSocket once one carries it, and hands it the queue', () => {
    const session = newSession();
    push(session, 'a', 'b');
    session.streamFrom(1000);
    const moved = session.carry();
    assert.deepEqual(moved.map((p) => p.seq), [1, 2]);
    assert.equal(session.packets.length, 0);
    assert.equal(session.bufferedAmount, 0);
    assert.ok(session.isCarried);
    assert.equal(session.tick(1_000_000), 0);
  });
});
