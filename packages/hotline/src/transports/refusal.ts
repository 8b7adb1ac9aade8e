import type { Socket } from 'node:net';
import type { Sweep, Sweepable } from '../timers/sweep.js';

/**
 * A socket the transports refused before it became anything (a session upgrade naming
 * no session, a malformed one): the answer is written, our side half-closed, and the
 * socket destroyed once the client has read it and closed its half — or at a deadline.
 *
 * The deadline is absolute, from the shared sweep: an idle timer (`socket.setTimeout`)
 * would be pushed back by every byte a client trickles in, and a client that keeps its
 * half of the connection open would keep the file descriptor for as long as it likes.
 */

/**
 * ms a refused client has to read its answer and close. A refusal is a few hundred bytes
 * that leave in one segment; a second is many round trips.
 */
export const REFUSAL_LINGER = 1000;

const kRefusal = Symbol('hotline.refusal');
type RefusedSocket = Socket & { [kRefusal]?: Refusal };

class Refusal implements Sweepable {
  constructor(
    readonly socket: RefusedSocket,
    private readonly deadline: number,
    private readonly clock: Sweep,
  ) {}

  sweep(now: number): void {
    if (now >= this.deadline) this.socket.destroy();
  }

  forget(): void {
    this.clock.delete(this);
  }
}

/** Writes `answer` (a complete HTTP response), ends our side, destroys on the deadline. */
export function refuseSocket(socket: Socket, answer: string, sweep: Sweep): void {
  if (socket.destroyed) return;
  const refused = socket as RefusedSocket;
  // A reset while the answer is written must not become an unhandled 'error'.
  if (!refused.listeners('error').includes(onRefusedError)) refused.on('error', onRefusedError);
  if (!refused.writable || refused[kRefusal] !== undefined) {
    refused.destroy();
    return;
  }
  const refusal = new Refusal(refused, Date.now() + REFUSAL_LINGER, sweep);
  refused[kRefusal] = refusal;
  sweep.add(refusal);
  refused.once('close', onRefusedClose);
  // Whatever else the client sends is read and dropped: it must not fill our buffers, and
  // its FIN must reach us (a paused socket would never see it).
  refused.on('data', discard);
  refused.once('end', onRefusedEnd);
  refused.resume();
  refused.end(answer);
}

function onRefusedError(this: Socket): void {
  this.destroy();
}

function onRefusedEnd(this: RefusedSocket): void {
  // The client closed its half: once ours is flushed, nothing is left to wait for.
  if (this.writableFinished) this.destroy();
  else this.once('finish', destroySocket);
}

function onRefusedClose(this: RefusedSocket): void {
  this[kRefusal]?.forget();
  this[kRefusal] = undefined;
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function discard(): void {}
