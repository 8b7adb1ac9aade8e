import type { ServerResponse } from 'node:http';

/**
 * Responses whose bytes wait for a client that may not be reading: a poll answer too
 * large for the kernel's buffers, an SSE stream its client stopped reading. Each one is
 * checked on the sweep: a response that holds bytes and has not let any of them go for
 * `drainTimeout` is destroyed (its socket with it), so that a client cannot pin memory
 * and a file descriptor by not reading.
 *
 * Progress is `writableLength` going down (the kernel took bytes) or reaching zero;
 * writes only ever make it grow, and the transports write to a response only when it
 * has room (below its high-water mark), so a client that reads keeps bringing it down.
 */

const kLength = Symbol('hotline.unread.length');
const kSince = Symbol('hotline.unread.since');
type Watched = ServerResponse & { [kLength]?: number; [kSince]?: number };

/** Starts (or restarts) the progress clock of `response`. */
export function watchProgress(response: ServerResponse, now: number): void {
  const watched = response as Watched;
  watched[kLength] = response.writableLength;
  watched[kSince] = now;
}

/** Whether `response` has held bytes without letting any go for `timeout` ms. */
export function stalled(response: ServerResponse, now: number, timeout: number): boolean {
  const watched = response as Watched;
  const length = response.writableLength;
  const last = watched[kLength];
  if (length === 0 || last === undefined || length < last) {
    watched[kLength] = length;
    watched[kSince] = now;
    return false;
  }
  watched[kLength] = length;
  return now - watched[kSince]! >= timeout;
}

/**
 * Responses that belong to no session (error answers, the client bundle) and were left
 * with bytes the kernel did not take: swept like a session's answers, forgotten once
 * they finish or close.
 */
export class UnreadResponses {
  private readonly responses = new Set<ServerResponse>();

  get size(): number {
    return this.responses.size;
  }

  /** Call after `end()`: keeps `response` only if bytes of it are still waiting. */
  add(response: ServerResponse, now: number): void {
    if (response.writableLength === 0 || response.destroyed || this.responses.has(response)) return;
    (response as ServerResponse & { [kOwner]?: UnreadResponses })[kOwner] = this;
    watchProgress(response, now);
    this.responses.add(response);
    response.once('finish', onLooseDone);
    response.once('close', onLooseDone);
  }

  delete(response: ServerResponse): void {
    this.responses.delete(response);
  }

  sweep(now: number, timeout: number): void {
    for (const response of this.responses) if (stalled(response, now, timeout)) response.destroy();
  }
}

const kOwner = Symbol('hotline.unread.owner');

function onLooseDone(this: ServerResponse & { [kOwner]?: UnreadResponses }): void {
  this[kOwner]?.delete(this);
}
