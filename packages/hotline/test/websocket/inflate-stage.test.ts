/**
 * The inflate stage pauses parsing and the socket while a message inflates, keeps what
 * arrives meanwhile, and hands it back in order once the message is out.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HotlineError } from '../../src/errors.js';
import type { ProtocolEvent } from '../../src/protocol/protocol.js';
import type { MessageCodec } from '../../src/websocket/codec.js';
import { InflateStage, type InflateTarget } from '../../src/websocket/inflate-stage.js';
import type { StreamSocket } from '../../src/websocket/stream-socket.js';

function pausable(): StreamSocket & { paused: boolean } {
  const socket = {
    paused: false,
    pause() {
      socket.paused = true;
    },
    resume() {
      socket.paused = false;
    },
  };
  return socket as unknown as StreamSocket & { paused: boolean };
}

/** A codec whose decompressions complete when the test says so. */
function manualCodec(): MessageCodec & { finish(error: HotlineError | null, result?: Buffer): void } {
  let pending: ((error: HotlineError | null, result?: Buffer) => void) | null = null;
  return {
    shouldCompress: () => false,
    compress: () => {},
    compressShared: () => null,
    decompress: (_data, callback) => (pending = callback),
    close: () => {},
    finish(error, result) {
      pending!(error, result);
    },
  };
}

const ping = (text: string): ProtocolEvent => ({ type: 'ping', data: Buffer.from(text) });

describe('InflateStage', () => {
  it('pauses the socket and keeps the events after the message until it is inflated', () => {
    const stage = new InflateStage();
    const socket = pausable();
    const codec = manualCodec();
    const calls: string[] = [];
    const target: InflateTarget = {
      inflated: (error, result, binary) => {
        calls.push(`inflated ${error} ${result?.toString()} ${binary}`);
      },
      fault: () => calls.push('fault'),
    };
    const events = [ping('before'), { type: 'message', data: Buffer.from('z'), binary: false, compressed: true } as ProtocolEvent, ping('after')];
    stage.start(codec, socket, Buffer.from('z'), false, events, 2, target);
    assert.equal(stage.active, true);
    assert.equal(socket.paused, true);
    // A read that was on its way when the socket paused.
    stage.hold([ping('late')]);
    codec.finish(null, Buffer.from('inflated text'));
    assert.deepEqual(calls, ['inflated null inflated text false']);
    const waiting = stage.resume(socket);
    assert.deepEqual(
      waiting.map((e) => (e.type === 'ping' ? e.data.toString() : e.type)),
      ['after', 'late'],
    );
    assert.equal(stage.active, false);
    assert.equal(socket.paused, false);
  });

  it('keeps a throw of the callback inside the connection: a fault, never thrown into zlib', () => {
    const stage = new InflateStage();
    const codec = manualCodec();
    const faults: unknown[] = [];
    const bug = new Error('bug in the shell');
    stage.start(codec, pausable(), Buffer.alloc(1), true, [], 0, {
      inflated: () => {
        throw bug;
      },
      fault: (error) => faults.push(error),
    });
    assert.doesNotThrow(() => codec.finish(null, Buffer.alloc(0)));
    assert.deepEqual(faults, [bug]);
  });

  it('forgets what waited once cleared (the connection is gone)', () => {
    const stage = new InflateStage();
    stage.start(manualCodec(), pausable(), Buffer.alloc(1), true, [ping('x')], 0, { inflated: () => {}, fault: () => {} });
    stage.clear();
    assert.equal(stage.active, false);
  });
});
