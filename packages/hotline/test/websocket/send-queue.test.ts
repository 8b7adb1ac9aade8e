/**
 * The send queue keeps messages in send order while some are being compressed; the write
 * batching merges the small frames of one flush and hands large ones over uncopied.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COPY_THRESHOLD } from '../../src/protocol/frame-encoder.js';
import { DEFLATED, ENCODED, type FrameOutput, Outgoing, PLAIN, SendQueue, writeFrames } from '../../src/websocket/send-queue.js';
import type { StreamSocket } from '../../src/websocket/stream-socket.js';

/** Records what the queue hands the protocol core. */
class Output implements FrameOutput {
  closeSent: unknown = null;
  readonly sent: string[] = [];
  sendMessage(data: Uint8Array, binary: boolean, compressed = false): void {
    this.sent.push(`${compressed ? 'deflated' : 'plain'}:${binary ? 'b' : 't'}:${Buffer.from(data).toString()}`);
  }
  sendEncoded(frame: Uint8Array): void {
    this.sent.push(`encoded:${Buffer.from(frame).toString()}`);
  }
}

const item = (text: string, kind: typeof PLAIN | typeof DEFLATED | typeof ENCODED, out: string | null = null): Outgoing =>
  new Outgoing(Buffer.from(text), false, kind, out === null ? null : Buffer.from(out), null);

describe('SendQueue', () => {
  it('releases nothing while the head is still being compressed, then everything ready, in order', () => {
    const queue = new SendQueue();
    const output = new Output();
    const first = item('one', DEFLATED);
    const shared = item('two', ENCODED);
    queue.push(first);
    queue.push(shared);
    queue.push(item('three', PLAIN));
    assert.equal(queue.waiting, true);
    assert.equal(queue.bytes, 11);
    assert.equal(queue.release(output), 0);
    // The shared compression finishes first: it still waits behind the first message.
    shared.out = Buffer.from('frame-two');
    assert.equal(queue.release(output), 0);
    first.out = Buffer.from('z-one');
    assert.equal(queue.release(output), 3);
    assert.deepEqual(output.sent, ['deflated:t:z-one', 'encoded:frame-two', 'plain:t:three']);
    assert.equal(queue.waiting, false);
    assert.equal(queue.bytes, 0);
  });

  it('stops at the first message not ready and keeps the rest', () => {
    const queue = new SendQueue();
    const output = new Output();
    queue.push(item('a', DEFLATED, 'za'));
    const pending = item('b', DEFLATED);
    queue.push(pending);
    queue.push(item('c', PLAIN));
    assert.equal(queue.release(output), 1);
    assert.deepEqual(output.sent, ['deflated:t:za']);
    assert.equal(queue.bytes, 2);
    pending.out = Buffer.from('zb');
    assert.equal(queue.release(output), 2);
    assert.deepEqual(output.sent, ['deflated:t:za', 'deflated:t:zb', 'plain:t:c']);
  });

  it('drops what is ready after our Close instead of sending it (RFC 6455 §5.5.1)', () => {
    const queue = new SendQueue();
    const output = new Output();
    output.closeSent = { code: 1000, reason: '' };
    queue.push(item('late', PLAIN));
    assert.equal(queue.release(output), 1);
    assert.deepEqual(output.sent, []);
    assert.equal(queue.waiting, false);
  });

  it('cancels the shared compressions it waits for when cleared', () => {
    const queue = new SendQueue();
    let cancelled = 0;
    const waiting = item('shared', ENCODED);
    waiting.shared = { cancel: () => cancelled++ } as unknown as NonNullable<Outgoing['shared']>;
    queue.push(waiting);
    queue.pendingClose = { code: 1000, reason: '', failure: null };
    queue.clear();
    assert.equal(cancelled, 1);
    assert.equal(queue.waiting, false);
    assert.equal(queue.pendingClose, null);
  });
});

/** A socket that records its writes and corks. */
function recordingSocket(): StreamSocket & { writes: Buffer[]; corked: number } {
  const socket = {
    writes: [] as Buffer[],
    corked: 0,
    write(chunk: Uint8Array) {
      socket.writes.push(chunk as Buffer);
      return true;
    },
    cork() {
      socket.corked++;
    },
    uncork() {},
  };
  return socket as unknown as StreamSocket & { writes: Buffer[]; corked: number };
}

describe('writeFrames', () => {
  it('writes one frame as it is', () => {
    const socket = recordingSocket();
    const frame = Buffer.from('only');
    writeFrames(socket, [frame], 1);
    assert.equal(socket.writes.length, 1);
    assert.equal(socket.writes[0], frame);
  });

  it('merges the small frames of one flush into one write', () => {
    const socket = recordingSocket();
    writeFrames(socket, [Buffer.from('ab'), Buffer.from('cd'), Buffer.from('ef'), Buffer.from('unused')], 3);
    assert.equal(socket.writes.length, 1);
    assert.equal(socket.writes[0]!.toString(), 'abcdef');
    assert.equal(socket.corked, 0);
  });

  it('hands a large payload over uncopied, corked with the frames around it (writev)', () => {
    const socket = recordingSocket();
    const large = Buffer.alloc(COPY_THRESHOLD + 100);
    const header = Buffer.from([0x82, 0x7e]);
    writeFrames(socket, [header, large], 2);
    assert.equal(socket.corked, 1);
    assert.deepEqual(socket.writes, [header, large]);
    assert.equal(socket.writes[1], large, 'the same buffer, not a copy');
  });
});
