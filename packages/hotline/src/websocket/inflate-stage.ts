/**
 * The inflate stage of a connection that negotiated permessage-deflate (RFC 7692). A
 * compressed message is inflated asynchronously, yet what follows it on the wire must
 * reach the application after it: while it inflates, parsing is paused (the events read
 * after it wait here) and so is the socket, so that a peer cannot make us buffer without
 * bound. Once inflated, reading resumes and the waiting events are handed back in order.
 *
 * The codec takes turns on the server's inflate rate (`InflateScheduler`, through the
 * codec's own stream): a message whose turn is used up simply inflates later, with this
 * stage still paused, so the rate limits the peer's reading too.
 */
import type { ProtocolEvent } from '../protocol/protocol.js';
import type { HotlineError } from '../errors.js';
import type { MessageCodec } from './codec.js';
import type { StreamSocket } from './stream-socket.js';

/** What the stage calls back when a message has been inflated: the shell. */
export interface InflateTarget {
  /** `result` is the inflated message, or `error` says why it could not be. */
  inflated(error: HotlineError | null, result: Buffer | undefined, binary: boolean): void;
  /** The callback itself threw: a fault of ours, never thrown into Node's event loop. */
  fault(error: unknown): void;
}

export class InflateStage {
  /** The events read after the message being inflated; null while none inflates. */
  private blocked: ProtocolEvent[] | null = null;

  /** A message is being inflated: new events must wait behind it. */
  get active(): boolean {
    return this.blocked !== null;
  }

  /**
   * Inflates `data` (a whole message), with `events` from `from` on waiting behind it and
   * `socket` paused until `target.inflated` has been called.
   */
  start(codec: MessageCodec, socket: StreamSocket, data: Buffer, binary: boolean, events: readonly ProtocolEvent[], from: number, target: InflateTarget): void {
    this.blocked = events.slice(from);
    socket.pause();
    codec.decompress(data, (error, result) => {
      // A zlib callback: nothing may throw from here into Node's event loop.
      try {
        target.inflated(error, result, binary);
      } catch (failure) {
        target.fault(failure);
      }
    });
  }

  /** Events of a read that was on its way when the socket paused: they wait too. */
  hold(events: readonly ProtocolEvent[]): void {
    this.blocked!.push(...events);
  }

  /** The message is inflated: reading resumes, and the events that waited are returned. */
  resume(socket: StreamSocket): ProtocolEvent[] {
    const waiting = this.blocked ?? [];
    this.blocked = null;
    socket.resume();
    return waiting;
  }

  /** The connection is gone: nothing waits any more. */
  clear(): void {
    this.blocked = null;
  }
}
