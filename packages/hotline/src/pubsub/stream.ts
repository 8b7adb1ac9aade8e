import { randomBytes } from 'node:crypto';
import type { PublishedMessage } from './message.js';
import type { RecoveryResult } from './engine.js';
import type { StreamPosition } from '../protocol/position.js';

/** A new epoch: 64 random bits, base64url (11 characters). */
export function newEpoch(): string {
  return randomBytes(8).toString('base64url');
}

/** A new instance id: 72 random bits, base64url (12 characters). */
export function newInstanceId(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * One topic's stream in a process: its epoch, the last offset given, and the bounded
 * history of the last publications (a ring, oldest first), which expires as a whole
 * `ttl` ms after the last publish, as a Redis key with a TTL does.
 */
export class TopicStream<M extends PublishedMessage> {
  readonly epoch = newEpoch();
  offset = 0;
  lastPublish = 0;
  private readonly ring: (M | undefined)[];
  private start = 0;
  private length = 0;

  constructor(private readonly size: number) {
    this.ring = new Array<M | undefined>(size);
  }

  append(message: M, now: number): void {
    this.lastPublish = now;
    if (this.size === 0) return;
    const at = (this.start + this.length) % this.size;
    this.ring[at] = message;
    if (this.length < this.size) this.length++;
    else this.start = (this.start + 1) % this.size;
  }

  /** Forgets the history (expired); the epoch and offset stay. */
  expire(): void {
    this.ring.fill(undefined);
    this.start = 0;
    this.length = 0;
  }

  get historyLength(): number {
    return this.length;
  }

  /** The history after `offset`, oldest first. */
  after(offset: number): M[] {
    const out: M[] = [];
    for (let i = 0; i < this.length; i++) {
      const message = this.ring[(this.start + i) % this.size]!;
      if (message.offset > offset) out.push(message);
    }
    return out;
  }

  /** Offset of the oldest publication kept, or offset + 1 when none is. */
  get oldest(): number {
    return this.length === 0 ? this.offset + 1 : this.ring[this.start]!.offset;
  }
}

/**
 * The recovery decision, the same for every engine, from what a stream holds: `epoch` and
 * `offset` its current position, `oldest` the first offset its history still has
 * (`offset + 1` when empty), `expired` whether the history went by TTL rather than by
 * size, `missed` the publications after `since` from history (at most `limit + 1`).
 */
export function decideRecovery<M extends PublishedMessage>(
  since: StreamPosition,
  stream: { epoch: string; offset: number; oldest: number; expired: boolean },
  history: () => M[],
  limit: number,
): RecoveryResult<M> {
  const { epoch, offset } = stream;
  // A position from another epoch, or ahead of the stream (it cannot come from this one).
  if (since.epoch !== epoch || since.offset > offset) return { recovered: false, reason: 'epoch', epoch, offset };
  if (since.offset === offset) return { recovered: true, epoch, offset, messages: [] };
  if (offset - since.offset > limit) return { recovered: false, reason: 'retention', epoch, offset };
  if (stream.oldest > since.offset + 1) return { recovered: false, reason: stream.expired ? 'ttl' : 'retention', epoch, offset };
  return { recovered: true, epoch, offset: since.offset, messages: history() };
}
