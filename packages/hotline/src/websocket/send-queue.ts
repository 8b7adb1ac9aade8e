/**
 * The way out of a connection: the compression send queue, which keeps messages in send
 * order while some of them are being compressed, and the write batching that hands the
 * frames of one flush to the socket in one write.
 */
import type { Chunk } from '../protocol/protocol.js';
import type { ProtocolError } from '../errors.js';
import { COPY_THRESHOLD } from '../protocol/frame-encoder.js';
import type { SharedDeflation } from './shared-deflate.js';
import type { StreamSocket } from './stream-socket.js';

/** How a queued message goes out once it is at the head of the send queue. */
export const PLAIN = 0; // `data` as it is
export const DEFLATED = 1; // `out`: this connection's compressed payload, null until ready
export const ENCODED = 2; // `out`: a whole frame built once for many peers, null until compressed
export type OutgoingKind = typeof PLAIN | typeof DEFLATED | typeof ENCODED;

/**
 * A message in the send queue. RFC 7692 compresses whole messages, asynchronously, and
 * a connection's own and shared compressions finish in no fixed order with each other:
 * the queue keeps messages in send order until each is ready.
 */
export class Outgoing {
  constructor(
    readonly data: Buffer,
    readonly binary: boolean,
    readonly kind: OutgoingKind,
    public out: Buffer | null,
    /** The shared compression this message waits for, to leave if the connection closes. */
    public shared: SharedDeflation | null,
  ) {}
}

/**
 * A close() that waits for the compressed messages ahead of it, or a failure whose Close
 * waits for the answers to the messages before the violation (RFC 6455 §7.1.7).
 */
export interface PendingClose {
  readonly code: number;
  readonly reason: string;
  readonly failure: ProtocolError | null;
}

/** What the queue hands its ready messages to: the protocol core, which frames them. */
export interface FrameOutput {
  /** Our Close has been sent: nothing may follow it (RFC 6455 §5.5.1). */
  readonly closeSent: unknown;
  sendMessage(data: Uint8Array, binary: boolean, compressed?: boolean): void;
  sendEncoded(frame: Chunk): void;
}

/**
 * The send queue of a connection that compresses (one per such connection, reused): empty
 * while nothing is being compressed, in which case messages go straight to the protocol.
 */
export class SendQueue {
  private items: Outgoing[] = [];
  /** What waits for the queue to empty before the connection closes. */
  pendingClose: PendingClose | null = null;

  /** Messages are waiting for a compression: any new one must queue behind them. */
  get waiting(): boolean {
    return this.items.length > 0;
  }

  /** Bytes accepted and still waiting here (uncompressed sizes). */
  get bytes(): number {
    const items = this.items;
    let total = 0;
    for (let i = 0; i < items.length; i++) total += items[i]!.data.length;
    return total;
  }

  push(item: Outgoing): void {
    this.items.push(item);
  }

  /**
   * Sends the messages at the head of the queue that are ready, in order, and returns how
   * many left. After our Close, the ready ones are dropped instead (§5.5.1).
   */
  release(output: FrameOutput): number {
    const items = this.items;
    let ready = 0;
    while (ready < items.length) {
      const item = items[ready]!;
      if (item.kind !== PLAIN && item.out === null) break;
      ready++;
      if (output.closeSent !== null) continue;
      if (item.kind === PLAIN) output.sendMessage(item.data, item.binary);
      else if (item.kind === DEFLATED) output.sendMessage(item.out!, item.binary, true);
      else output.sendEncoded(item.out!);
    }
    if (ready === items.length) this.items = [];
    else if (ready > 0) items.splice(0, ready);
    return ready;
  }

  /**
   * The connection is gone: everything queued is dropped, and shared compressions nobody
   * else waits for are skipped or stopped.
   */
  clear(): void {
    const items = this.items;
    this.items = [];
    this.pendingClose = null;
    for (const item of items) item.shared?.cancel();
  }
}

/**
 * The frames of one flush go out in one write. Small ones are merged into one buffer (one
 * syscall, no writev bookkeeping); once a payload above the encoder's copy threshold is
 * among them, they go out with writev instead, so that payload is never copied here.
 */
const MERGE_LIMIT = 64 * 1024;
/** A whole small frame: a payload the encoder copies, plus the longest header (§5.2). */
const MERGE_CHUNK_LIMIT = COPY_THRESHOLD + 14;

/** Writes the `count` first chunks of a flush (the protocol's `dataToSend`) to `socket`. */
export function writeFrames(socket: StreamSocket, chunks: readonly Chunk[], count: number): void {
  if (count === 1) {
    socket.write(chunks[0]!);
    return;
  }
  let total = 0;
  let largest = 0;
  for (let i = 0; i < count; i++) {
    const length = chunks[i]!.length;
    total += length;
    if (length > largest) largest = length;
  }
  if (total <= MERGE_LIMIT && largest <= MERGE_CHUNK_LIMIT) {
    socket.write(concat(chunks, count, total));
    return;
  }
  // Large payloads go out with writev, never copied.
  socket.cork();
  for (let i = 0; i < count; i++) socket.write(chunks[i]!);
  socket.uncork();
}

function concat(chunks: readonly Chunk[], count: number, total: number): Buffer {
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const chunk = chunks[i]!;
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
