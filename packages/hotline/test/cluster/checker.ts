/**
 * What every client of a cluster must see, whatever failed: per client and topic, offsets
 * strictly increasing within an epoch; no gap unless the client was told (a `recovery`
 * event with `recovered: false`); every acknowledged publish delivered unless the client
 * was told of a loss.
 *
 * The rules run on recorded events (`Observed`), not on a live client, so that the same
 * rules judge a Node client (`Checked.watch`) and a client that ran elsewhere — in a
 * browser page — whose records are brought back (`Checked.record`).
 */
import type { HotlineClient } from '../../src/browser/client.js';
import type { ClientCloseEvent, ClientErrorEvent, ClientMessageEvent, ClientRecoveryEvent, ClientStateEvent } from '../../src/browser/events.js';

export interface Delivery {
  readonly epoch: string;
  readonly offset: number;
  readonly data: string;
}

export interface ObservedRecovery {
  readonly recovered: boolean;
  readonly reason?: string | undefined;
  readonly epoch: string;
  readonly offset: number;
}

/**
 * One event of one client on the checked topic, as plain data (it crosses from a browser
 * page as JSON): a publication (`position` null when it came without one, a violation), a
 * recovery notice, or a connection event kept to explain a failure (`note`).
 */
export type Observed =
  | { readonly type: 'message'; readonly at: number; readonly data: string; readonly position: { epoch: string; offset: number } | null }
  | ({ readonly type: 'recovery'; readonly at: number } & ObservedRecovery)
  | { readonly type: 'note'; readonly at: number; readonly note: string };

/** The verdict on one client's events. */
interface Verdict {
  readonly deliveries: Delivery[];
  readonly recoveries: Recovery[];
  readonly violations: string[];
}

type Recovery = Extract<Observed, { type: 'recovery' }>;

/** The rules, over one client's events in the order it saw them. */
export function judge(name: string, events: readonly Observed[]): Verdict {
  const deliveries: Delivery[] = [];
  const recoveries: Recovery[] = [];
  const violations: string[] = [];
  let last: { epoch: string; offset: number } | undefined;
  let flagged = false;
  for (const event of events) {
    if (event.type === 'note') continue;
    if (event.type === 'recovery') {
      recoveries.push(event);
      if (!event.recovered) flagged = true;
      continue;
    }
    if (event.position === null) {
      violations.push(`${name}: a publication without a position`);
      continue;
    }
    const delivery = { ...event.position, data: event.data };
    if (last !== undefined && delivery.epoch === last.epoch) {
      if (delivery.offset <= last.offset) violations.push(`${name}: offset ${delivery.offset} after ${last.offset} (a duplicate or a reorder)`);
      else if (delivery.offset !== last.offset + 1 && !flagged) violations.push(`${name}: a silent gap from ${last.offset} to ${delivery.offset}`);
    } else if (last !== undefined && !flagged) {
      violations.push(`${name}: a new epoch ${delivery.epoch} without a recovery event`);
    }
    flagged = false;
    last = delivery;
    deliveries.push(delivery);
  }
  return { deliveries, recoveries, violations };
}

export class Checked {
  /** Everything seen on the topic, in order; replaced wholesale by `record`. */
  private events: readonly Observed[] = [];
  private verdict: Verdict | null = null;

  constructor(readonly name: string) {}

  /** Records the events of a client running here. */
  static watch(name: string, client: HotlineClient, topic: string): Checked {
    const checked = new Checked(name);
    const events: Observed[] = [];
    const push = (event: Observed) => {
      events.push(event);
      checked.verdict = null;
    };
    checked.events = events;
    client.addEventListener('recovery', (event) => {
      const { topic: on, recovered, reason, epoch, offset } = event as ClientRecoveryEvent;
      if (on === topic) push({ type: 'recovery', at: Date.now(), recovered, reason, epoch, offset });
    });
    client.addEventListener('message', (event) => {
      const { data, topic: on, position } = event as ClientMessageEvent;
      if (on !== topic) return;
      push({ type: 'message', at: Date.now(), data: String(data), position: position === undefined ? null : { epoch: position.epoch, offset: position.offset } });
    });
    for (const type of ['open', 'resume', 'transport'] as const) {
      client.addEventListener(type, (event) => push({ type: 'note', at: Date.now(), note: `${type} ${(event as ClientStateEvent).transport} ${(event as ClientStateEvent).sid}` }));
    }
    client.addEventListener('close', (event) => {
      const { code, reason, willReconnect } = event as ClientCloseEvent;
      push({ type: 'note', at: Date.now(), note: `close ${code} ${reason} (reconnect: ${willReconnect})` });
    });
    client.addEventListener('error', (event) => push({ type: 'note', at: Date.now(), note: `error ${(event as ClientErrorEvent).message}` }));
    return checked;
  }

  /** Takes the events recorded elsewhere (all of them so far, in order). */
  record(events: readonly Observed[]): void {
    this.events = events;
    this.verdict = null;
  }

  private get judged(): Verdict {
    return (this.verdict ??= judge(this.name, this.events));
  }

  get deliveries(): readonly Delivery[] {
    return this.judged.deliveries;
  }

  get recoveries(): readonly Recovery[] {
    return this.judged.recoveries;
  }

  /** Everything that broke the rules, as sentences. */
  get violations(): readonly string[] {
    return this.judged.violations;
  }

  /**
   * Whether the client is at `position` or past it: it got that publication, or was told
   * (`recovered: false`) that what follows comes after it.
   */
  reached(position: { epoch: string; offset: number }): boolean {
    let at: { epoch: string; offset: number } | undefined;
    for (const event of this.events) {
      if (event.type === 'message' && event.position !== null) at = event.position;
      else if (event.type === 'recovery' && !event.recovered) at = event;
    }
    return at !== undefined && at.epoch === position.epoch && at.offset >= position.offset;
  }

  /** Acknowledged publishes this client never got, when it was not told of a loss covering them. */
  missing(acked: readonly Delivery[]): Delivery[] {
    if (this.recoveries.some((recovery) => !recovery.recovered)) return [];
    const got = new Set(this.deliveries.map((d) => `${d.epoch}:${d.offset}`));
    const first = this.deliveries[0];
    return acked.filter((ack) => first !== undefined && ack.epoch === first.epoch && ack.offset >= first.offset && !got.has(`${ack.epoch}:${ack.offset}`));
  }

  /** The events other than deliveries, with the last deliveries before each, to explain a failure. */
  story(since = 0): string {
    const lines: string[] = [];
    let lastMessage: Extract<Observed, { type: 'message' }> | undefined;
    for (const event of this.events) {
      if (event.at < since) continue;
      if (event.type === 'message') {
        lastMessage = event;
        continue;
      }
      if (lastMessage !== undefined) lines.push(`  ${lastMessage.at} last ${JSON.stringify(lastMessage.position)}`);
      lastMessage = undefined;
      lines.push(`  ${event.at} ${event.type === 'note' ? event.note : JSON.stringify(event)}`);
    }
    if (lastMessage !== undefined) lines.push(`  ${lastMessage.at} last ${JSON.stringify(lastMessage.position)}`);
    return `${this.name}:\n${lines.join('\n')}`;
  }
}
