import type { ErrorCode } from '../errors.js';

/** Why a session ended, for the answer a late request gets (410). */
export type EndReason = 'closed' | 'expired' | 'evicted';

/** The answer to a request for a session that ended, by why it ended. */
export const ENDED: Readonly<Record<EndReason, readonly [ErrorCode, string]>> = {
  closed: ['HL_ERR_SESSION_CLOSED', 'session closed'],
  expired: ['HL_ERR_SESSION_EXPIRED', 'session expired: start a new one'],
  evicted: ['HL_ERR_SESSION_EVICTED', 'the server closed the session to free memory (1013): start a new one later'],
};

/**
 * Sessions that ended recently, so that a late request learns why (410) rather than
 * hearing of an unknown session: kept long enough for a client to come back once, and
 * bounded (the oldest records go first).
 */
export class EndedSessions {
  /** A Map iterates in insertion order: the oldest record is first. */
  private readonly records = new Map<string, { why: EndReason; at: number }>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.records.size;
  }

  add(sid: string, why: EndReason, now: number): void {
    if (this.records.size >= this.max) this.records.delete(this.records.keys().next().value!);
    this.records.set(sid, { why, at: now });
  }

  get(sid: string): EndReason | undefined {
    return this.records.get(sid)?.why;
  }

  /** Forgets the records older than `keep` ms. */
  sweep(now: number, keep: number): void {
    for (const [sid, record] of this.records) {
      if (now - record.at < keep) break;
      this.records.delete(sid);
    }
  }
}
