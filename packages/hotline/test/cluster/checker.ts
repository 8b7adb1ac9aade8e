/**
 * What every client of a cluster must see, whatever failed: per client and topic, offsets
 * strictly increasing within an epoch; no gap unless the client was told (a `recovery`
 * event with `recovered: false`); every acknowledged publish delivered unless the client
 * was told of an epoch change.
 */
import type { HotlineClient } from '../../src/browser/client.js';
import type { ClientMessageEvent, ClientRecoveryEvent } from '../../src/browser/events.js';

export interface Delivery {
  readonly epoch: string;
  readonly offset: number;
  readonly data: string;
}

export class Checked {
  readonly deliveries: Delivery[] = [];
  readonly recoveries: ClientRecoveryEvent[] = [];
  /** Everything that broke the rules, as sentences. */
  readonly violations: string[] = [];
  /** Position of the last delivery, and whether a loss was flagged since. */
  private last: { epoch: string; offset: number } | undefined;
  private flagged = false;

  constructor(
    readonly name: string,
    client: HotlineClient,
    private readonly topic: string,
  ) {
    client.addEventListener('recovery', (event) => {
      const recovery = event as ClientRecoveryEvent;
      if (recovery.topic !== topic) return;
      this.recoveries.push(recovery);
      if (!recovery.recovered) this.flagged = true;
    });
    client.addEventListener('message', (event) => {
      const { data, topic: on, position } = event as ClientMessageEvent;
      if (on !== topic) return;
      if (position === undefined) return void this.violations.push(`${name}: a publication without a position`);
      this.take({ epoch: position.epoch, offset: position.offset, data: String(data) });
    });
  }

  private take(delivery: Delivery): void {
    const last = this.last;
    if (last !== undefined && delivery.epoch === last.epoch) {
      if (delivery.offset <= last.offset) this.violations.push(`${this.name}: offset ${delivery.offset} after ${last.offset} (a duplicate or a reorder)`);
      else if (delivery.offset !== last.offset + 1 && !this.flagged) this.violations.push(`${this.name}: a silent gap from ${last.offset} to ${delivery.offset}`);
    } else if (last !== undefined && !this.flagged) {
      this.violations.push(`${this.name}: a new epoch ${delivery.epoch} without a recovery event`);
    }
    this.flagged = false;
    this.last = delivery;
    this.deliveries.push(delivery);
  }

  /** Acknowledged publishes this client never got, when it was not told of a loss covering them. */
  missing(acked: readonly Delivery[]): Delivery[] {
    if (this.recoveries.some((recovery) => !recovery.recovered)) return [];
    const got = new Set(this.deliveries.map((d) => `${d.epoch}:${d.offset}`));
    const first = this.deliveries[0];
    return acked.filter((ack) => first !== undefined && ack.epoch === first.epoch && ack.offset >= first.offset && !got.has(`${ack.epoch}:${ack.offset}`));
  }
}
