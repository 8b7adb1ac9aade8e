import type { ServerResponse } from 'node:http';
import type { Handshake } from '../protocol/session/wire.js';
import { NO_PACKETS, type PollOwner, answerPoll, anyUnread, endAnswers, supersedeAnswers, sweepAnswers, unreadBytes } from './poll-answer.js';
import type { LinkedSession, SessionLink } from './session-link.js';

/**
 * Short polling and fixed-interval ("Ajax") polling: every GET is answered at once with
 * whatever the session holds, nothing is held open, and messages wait for the client's
 * next poll. The two differ in when the client asks, and so in what an earlier answer
 * still on its way means:
 *
 * - short polling asks `interval` after each answer: an answer still unread when the next
 *   poll comes was abandoned, and goes (`supersedeAnswers`);
 * - fixed-interval polling asks on a clock, so its polls overlap by design: one that comes
 *   while an earlier answer is still on its way gets an empty answer (the next tick gets
 *   the rest), never a second copy of the queue — copies for connections that poll and
 *   do not read would multiply it.
 */
export class Polling implements SessionLink, PollOwner {
  readonly answers: ServerResponse[] = [];

  constructor(
    readonly session: LinkedSession,
    /** Fixed-interval polling: polls overlap. */
    private readonly fixed: boolean,
  ) {}

  /** Nothing is held open: a message waits for the next poll. */
  get ready(): boolean {
    return false;
  }

  get open(): boolean {
    return false;
  }

  responseBytes(): number {
    return unreadBytes(this.answers);
  }

  answerHandshake(response: ServerResponse, handshake: Handshake): void {
    answerPoll(this, response, this.session.core.packets, handshake);
  }

  poll(response: ServerResponse): void {
    if (!this.fixed) supersedeAnswers(this);
    answerPoll(this, response, anyUnread(this.answers) ? NO_PACKETS : this.session.core.packets);
  }

  /** What is queued waits for the client to ask: there is no response to write to. */
  flush(): void {}

  sweep(now: number): boolean {
    return sweepAnswers(this.answers, now, this.session.host.options.drainTimeout);
  }

  /** The close packet waits for the next poll, like any message. */
  evicted(): void {}

  end(closed: boolean): void {
    endAnswers(this, closed);
  }
}
