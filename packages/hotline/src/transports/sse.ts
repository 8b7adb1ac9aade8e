import type { ServerResponse } from 'node:http';
import type { QueuedPacket } from '../protocol/session/server-session.js';
import { SessionDeadline } from '../protocol/session/server-session.js';
import {
  type Handshake,
  type PayloadText,
  SSE_HEARTBEAT,
  sseOpenEvent,
  sseQueuedEvent,
  sseRetryEvent,
} from '../protocol/session/wire.js';
import { sseRetry } from './options.js';
import type { LinkedSession, SessionLink } from './session-link.js';
import { stalled, watchProgress } from './unread.js';

/**
 * Server-Sent Events (https://html.spec.whatwg.org/#server-sent-events): one long
 * response per session carrying every packet as an event whose id is its sequence
 * number, written only through the encoders of `wire.ts`, and only as fast as the socket
 * takes it (`write` returning false stops the pump until 'drain'). Upstream and
 * acknowledgements arrive by POST; a reconnection (`Last-Event-ID` or `ack`) replaces the
 * stream and resumes after what the client has.
 *
 * One stream per session: the old TCP connection of a client that reconnects may be half
 * dead, and what it did not send would otherwise stay in memory with it.
 */
export class SseStream implements SessionLink {
  private stream: ServerResponse | null = null;
  /** Highest sequence number written to the current stream. */
  private streamed = 0;

  constructor(readonly session: LinkedSession) {}

  get ready(): boolean {
    return this.stream !== null && !this.stream.writableNeedDrain;
  }

  get open(): boolean {
    return this.stream !== null;
  }

  responseBytes(): number {
    return this.stream === null ? 0 : this.stream.writableLength;
  }

  answerHandshake(response: ServerResponse, handshake: Handshake): void {
    this.start(response, handshake);
  }

  poll(response: ServerResponse): void {
    this.start(response, undefined);
  }

  flush(): void {
    this.pump();
  }

  sweep(now: number, due: number): boolean {
    const stream = this.stream;
    if (stream === null) return false;
    if (stalled(stream, now, this.session.host.options.drainTimeout)) {
      stream.destroy();
    } else if (due & SessionDeadline.HEARTBEAT && stream.writableLength === 0) {
      // A comment line: proxies see traffic, clients see the stream is alive. Not behind
      // bytes that are still waiting: those are traffic enough.
      stream.write(SSE_HEARTBEAT);
    }
    return true;
  }

  evicted(): void {
    const stream = this.stream;
    if (stream !== null && stream.writableLength === 0) this.write(stream, this.session.core.packets, 0);
  }

  end(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.off('close', onStreamClose);
    stream.off('drain', onStreamDrain);
    this.session.core.detach(this.session.host.now());
    // What the kernel has not taken would only wait for a client that is not reading.
    if (stream.writableLength > 0) stream.destroy();
    else stream.end();
  }

  /** The socket drained: write on. */
  drained(response: ServerResponse): void {
    if (this.stream === response) this.pump();
  }

  /** The client went away. */
  closed(response: ServerResponse): void {
    if (this.stream !== response) return;
    this.stream = null;
    const session = this.session;
    const core = session.core;
    core.detach(session.host.now());
    // The stream carried the server's close packet and the client hung up after it: it
    // has it, and nothing is left to wait for.
    if (core.closing && this.streamed >= core.closingSeq) session.closeAcknowledged();
    else session.reserve();
  }

  /** Starts (or replaces) the stream and writes everything unacknowledged to it. */
  private start(response: ServerResponse, handshake: Handshake | undefined): void {
    const old = this.stream;
    if (old !== null) {
      this.stream = null;
      old.off('close', onStreamClose);
      old.off('drain', onStreamDrain);
      old.destroy();
    }
    const session = this.session;
    this.stream = response;
    (response as OwnedStream)[kStream] = this;
    response.on('close', onStreamClose);
    response.on('drain', onStreamDrain);
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      // no-transform: a proxy that compresses or buffers would hold events back.
      'Cache-Control': 'no-store, no-transform',
      // nginx buffers proxied responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    response.socket?.setNoDelay(true);
    const retry = sseRetry(session.host.options);
    this.streamed = session.core.ackedSeq;
    const now = session.host.now();
    session.core.streamFrom(now);
    response.write(handshake !== undefined ? sseOpenEvent(handshake, retry) : sseRetryEvent(retry));
    watchProgress(response, now);
    this.pump();
  }

  /** Writes the events after `streamed` while the stream's socket takes them. */
  private pump(): void {
    const stream = this.stream;
    const packets = this.session.core.packets;
    if (stream === null || stream.destroyed || stream.writableNeedDrain || packets.length === 0) return;
    const index = Math.max(0, this.streamed + 1 - packets[0]!.seq);
    if (index >= packets.length) return;
    this.write(stream, packets, index);
    this.session.reserve();
  }

  /** Writes `packets[index..]` as events until the socket asks to wait. */
  private write(stream: ServerResponse, packets: readonly QueuedPacket[], index: number): void {
    const core = this.session.core;
    stream.cork();
    while (index < packets.length) {
      const packet = packets[index++]!;
      const room = stream.write(sseQueuedEvent(packet.seq, packet, NODE_PAYLOAD_TEXT));
      this.streamed = packet.seq;
      core.markSent(packet.seq);
      if (!room) break;
    }
    stream.uncork();
  }
}

/** Node's own conversions: the payloads are Buffers (`send`, a publication). */
const NODE_PAYLOAD_TEXT: PayloadText = {
  utf8: (bytes) => asBuffer(bytes).toString('utf8'),
  base64: (bytes) => asBuffer(bytes).toString('base64'),
};

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const kStream = Symbol('hotline.sse');
type OwnedStream = ServerResponse & { [kStream]?: SseStream };

function onStreamClose(this: OwnedStream): void {
  this[kStream]?.closed(this);
}

function onStreamDrain(this: OwnedStream): void {
  this[kStream]?.drained(this);
}
