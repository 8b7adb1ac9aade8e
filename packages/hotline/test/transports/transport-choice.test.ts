/**
 * The choice of transport: which link serves each `?transport=`, and where its requests
 * say what the client has (`ack`, or SSE's `Last-Event-ID`).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { TransportError } from '../../src/errors.js';
import { ServerSession, packetCost } from '../../src/protocol/session/server-session.js';
import { LongPoll } from '../../src/transports/long-poll.js';
import { HTTP_TRANSPORTS, resolveHttpTransportOptions } from '../../src/transports/options.js';
import { Polling } from '../../src/transports/polling.js';
import type { LinkedSession } from '../../src/transports/session-link.js';
import { SseStream } from '../../src/transports/sse.js';
import { createLink, requestedAck } from '../../src/transports/transport-choice.js';

const LIMITS = { maxQueue: 1 << 20, maxQueueMessages: 100, hold: 1000, heartbeat: 1000, sessionTimeout: 5000, confirmTimeout: 1000, closeTimeout: 1000, probeTimeout: 1000 };

function linkedSession(): LinkedSession {
  return {
    core: new ServerSession(LIMITS, 0),
    host: { options: resolveHttpTransportOptions(), now: () => 0, answered: () => {} },
    reserve: () => {},
    closeAcknowledged: () => {},
  };
}

function request(headers: Record<string, string> = {}): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

/** A session that handed packets 1..sent to a response. */
function sentUpTo(sent: number): ServerSession {
  const core = new ServerSession(LIMITS, 0);
  for (let i = 0; i < sent; i++) core.push('t', new Uint8Array(1), packetCost(1, 0));
  core.markSent(sent);
  return core;
}

describe('createLink', () => {
  it('gives every HTTP transport the link that owns its responses', () => {
    const kinds = HTTP_TRANSPORTS.map((name) => [name, createLink(name, linkedSession()).constructor]);
    assert.deepEqual(kinds, [
      ['sse', SseStream],
      ['long-polling', LongPoll],
      ['polling', Polling],
      ['interval-polling', Polling],
    ]);
  });

  it('a new link carries nothing by itself: no response is open yet', () => {
    for (const name of HTTP_TRANSPORTS) {
      const link = createLink(name, linkedSession());
      assert.equal(link.open, false, name);
      assert.equal(link.ready, false, name);
      assert.equal(link.responseBytes(), 0, name);
    }
  });
});

describe('requestedAck', () => {
  it('reads ack, and 0 when there is none', () => {
    assert.equal(requestedAck(new URLSearchParams('ack=3'), request(), 'polling', sentUpTo(3)), 3);
    assert.equal(requestedAck(new URLSearchParams(''), request(), 'polling', sentUpTo(3)), 0);
  });

  it('reads Last-Event-ID on SSE only, and ack wins over it', () => {
    const header = request({ 'last-event-id': '2' });
    assert.equal(requestedAck(new URLSearchParams(''), header, 'sse', sentUpTo(3)), 2);
    assert.equal(requestedAck(new URLSearchParams('ack=1'), header, 'sse', sentUpTo(3)), 1);
    assert.equal(requestedAck(new URLSearchParams(''), header, 'long-polling', sentUpTo(3)), 0);
  });

  it('refuses with HL_ERR_MALFORMED_QUERY an ack that is not one decimal spelling, or names what was never sent', () => {
    for (const value of ['-1', '01', '1.5', 'x', '12345678901234567']) {
      assert.throws(
        () => requestedAck(new URLSearchParams(`ack=${value}`), request(), 'polling', sentUpTo(3)),
        (error: unknown) => error instanceof TransportError && error.code === 'HL_ERR_MALFORMED_QUERY' && error.status === 400,
        value,
      );
    }
    assert.throws(
      () => requestedAck(new URLSearchParams('ack=4'), request(), 'polling', sentUpTo(3)),
      (error: unknown) => error instanceof TransportError && error.code === 'HL_ERR_MALFORMED_QUERY' && !error.message.includes('3'),
    );
  });
});
