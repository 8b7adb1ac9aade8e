import type { ServerResponse } from 'node:http';
import type { QueuedPacket } from '../protocol/session/server-session.js';
import { type Handshake, queuedBatchParts } from '../protocol/session/wire.js';
import type { LinkedSession } from './session-link.js';
import { stalled, watchProgress } from './unread.js';

/**
 * The answers of the polling transports (short, fixed-interval and long polling): a
 * batch of everything the session holds for its client, written as it is (writev) with
 * its length, and then — if the kernel did not take it whole — followed until it does,
 * on the session's books (its bytes are memory on the client's behalf) and on the sweep
 * (a client that does not read it loses it after `drainTimeout`).
 */

/** A link that answers polls: its session and the answers still on their way. */
export interface PollOwner {
  readonly session: LinkedSession;
  readonly answers: ServerResponse[];
}

const kOwner = Symbol('hotline.poll-answer');
type OwnedAnswer = ServerResponse & { [kOwner]?: PollOwner };

export const NO_PACKETS: readonly QueuedPacket[] = [];

/** Answers `response` with `packets` (`open` first, for a handshake). */
export function answerPoll(owner: PollOwner, response: ServerResponse, packets: readonly QueuedPacket[], open?: Handshake): void {
  if (response.destroyed || response.writableEnded) return;
  const session = owner.session;
  const core = session.core;
  const parts = queuedBatchParts(packets.length > 0 ? packets[0]!.seq : core.nextSeq, packets, open);
  let length = 0;
  for (let i = 0; i < parts.length; i++) length += parts[i]!.length;
  response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': length });
  // Payloads are written as they are (no copy into one buffer): writev takes the list.
  response.cork();
  for (let i = 0; i < parts.length; i++) response.write(parts[i]);
  response.end();
  if (packets.length === 0) return;
  core.markSent(packets[packets.length - 1]!.seq);
  if (response.writableLength === 0) return;
  // The kernel did not take it all: the rest waits for the client, on our books.
  (response as OwnedAnswer)[kOwner] = owner;
  response.once('finish', onAnswerDone);
  response.once('close', onAnswerDone);
  watchProgress(response, session.host.now());
  owner.answers.push(response);
  session.reserve();
}

/** Bytes the answers hold for the kernel. */
export function unreadBytes(answers: readonly ServerResponse[]): number {
  let bytes = 0;
  for (let i = 0; i < answers.length; i++) bytes += answers[i]!.writableLength;
  return bytes;
}

/** Whether an earlier answer still holds bytes its client has not taken. */
export function anyUnread(answers: readonly ServerResponse[]): boolean {
  for (let i = 0; i < answers.length; i++) if (answers[i]!.writableLength > 0) return true;
  return false;
}

/**
 * A poll arrived (not a fixed-interval one): an earlier answer still unread will never be
 * read — the client reads an answer whole before it polls again, or abandoned the
 * request — and goes now, with its bytes.
 */
export function supersedeAnswers(owner: PollOwner): void {
  if (owner.answers.length === 0) return;
  destroyUnread(owner.answers);
  owner.session.reserve();
}

/** Destroys the answers stuck for `drainTimeout`; returns whether any are left. */
export function sweepAnswers(answers: readonly ServerResponse[], now: number, drainTimeout: number): boolean {
  for (let i = answers.length - 1; i >= 0; i--) {
    const answer = answers[i]!;
    if (stalled(answer, now, drainTimeout)) answer.destroy();
  }
  return answers.length > 0;
}

/**
 * The session ended: the answers still waiting for their client are of no use to anyone.
 * It moved onto a WebSocket: they are the registry's to follow (their client may still
 * read them, as any answer of no session).
 */
export function endAnswers(owner: PollOwner, closed: boolean): void {
  const answers = owner.answers;
  if (closed) {
    destroyUnread(answers);
    return;
  }
  for (let i = answers.length - 1; i >= 0; i--) {
    const answer = answers[i]! as OwnedAnswer;
    answers.splice(i, 1);
    answer.off('finish', onAnswerDone);
    answer.off('close', onAnswerDone);
    answer[kOwner] = undefined;
    owner.session.host.answered(answer);
  }
}

/**
 * Destroys (and forgets) the answers that still hold bytes; those the kernel took whole
 * are about to report 'finish' and leave the list on their own (their connection may
 * carry on).
 */
function destroyUnread(answers: ServerResponse[]): void {
  for (let i = answers.length - 1; i >= 0; i--) {
    const answer = answers[i]!;
    if (answer.writableLength === 0) continue;
    answers.splice(i, 1);
    answer.destroy();
  }
}

/** An answer was taken whole by the kernel, or its connection closed. */
function onAnswerDone(this: OwnedAnswer): void {
  const owner = this[kOwner];
  if (owner === undefined) return;
  const at = owner.answers.indexOf(this);
  if (at === -1) return;
  owner.answers.splice(at, 1);
  owner.session.reserve();
}
