import type { ServerResponse } from 'node:http';
import { TransportError } from '../errors.js';
import { ReadyState } from '../protocol/ready-state.js';
import { SessionDeadline } from '../protocol/session/server-session.js';
import type { Handshake } from '../protocol/session/wire.js';
import { NO_PACKETS, type PollOwner, answerPoll, endAnswers, supersedeAnswers, sweepAnswers, unreadBytes } from './poll-answer.js';
import type { LinkedSession, SessionLink } from './session-link.js';

/**
 * Long polling: a GET that finds nothing to send is held until something is queued (it
 * leaves at once, with everything sent in the same tick) or `hold` ms pass (answered
 * empty, and the client asks again). One held poll per session: a second one while the
 * first is held is refused with 400 HL_ERR_CONCURRENT_POLL (engine.io refuses the overlap
 * too), the first stays held and the session lives on.
 */
export class LongPoll implements SessionLink, PollOwner {
  readonly answers: ServerResponse[] = [];
  /** The poll being held. */
  private held: ServerResponse | null = null;

  constructor(readonly session: LinkedSession) {}

  get ready(): boolean {
    return this.held !== null;
  }

  get open(): boolean {
    return this.held !== null;
  }

  responseBytes(): number {
    return unreadBytes(this.answers);
  }

  answerHandshake(response: ServerResponse, handshake: Handshake): void {
    answerPoll(this, response, this.session.core.packets, handshake);
  }

  poll(response: ServerResponse): void {
    if (this.held !== null) throw new TransportError('HL_ERR_CONCURRENT_POLL', 400, 'a long-poll is already pending for this session');
    // The client reads an answer whole before it polls again: one still unread was abandoned.
    supersedeAnswers(this);
    const core = this.session.core;
    if (core.packets.length === 0 && core.readyState === ReadyState.OPEN) {
      this.held = response;
      core.holdFrom(this.session.host.now());
      (response as HeldPoll)[kLongPoll] = this;
      response.on('close', onHeldClose);
      return;
    }
    answerPoll(this, response, core.packets);
  }

  flush(): void {
    if (this.held !== null && this.session.core.packets.length > 0) this.answerHeld(this.session.core.packets);
  }

  sweep(now: number, due: number): boolean {
    const left = sweepAnswers(this.answers, now, this.session.host.options.drainTimeout);
    if (due & SessionDeadline.HOLD && this.held !== null) this.answerHeld(this.session.core.packets);
    return left;
  }

  evicted(): void {
    if (this.held !== null) this.answerHeld(this.session.core.packets);
  }

  end(closed: boolean): void {
    // A held poll is answered empty: the client learns the rest from its next request.
    if (this.held !== null) this.answerHeld(NO_PACKETS);
    endAnswers(this, closed);
  }

  /** The held poll's client went away before an answer. */
  heldClosed(response: ServerResponse): void {
    if (this.held !== response) return;
    this.held = null;
    this.session.core.detach(this.session.host.now());
  }

  private answerHeld(packets: typeof NO_PACKETS): void {
    const response = this.held!;
    this.held = null;
    response.off('close', onHeldClose);
    this.session.core.detach(this.session.host.now());
    answerPoll(this, response, packets);
  }
}

const kLongPoll = Symbol('hotline.long-poll');
type HeldPoll = ServerResponse & { [kLongPoll]?: LongPoll };

function onHeldClose(this: HeldPoll): void {
  this[kLongPoll]?.heldClosed(this);
}
