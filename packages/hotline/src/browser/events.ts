/**
 * The client's events. Plain `Event` subclasses: `Event` and `EventTarget` exist in every
 * browser and in Node, and these carry the same fields whatever the transport.
 */

import type { RecoveryReason, StreamPosition } from '../protocol/position.js';

export class ClientMessageEvent extends Event {
  /** A string for text, an ArrayBuffer for binary. */
  readonly data: string | ArrayBuffer;
  /** For a publication (the server's `publish`), its topic; undefined for a message the server sent this client alone. */
  readonly topic: string | undefined;
  /** For a publication, where it stands in its topic's stream. */
  readonly position: StreamPosition | undefined;
  constructor(data: string | ArrayBuffer, topic?: string, position?: StreamPosition) {
    super('message');
    this.data = data;
    this.topic = topic;
    this.position = position;
  }
}

/**
 * Why a topic's stream was not recovered: the server's reasons (`epoch`, `retention`,
 * `ttl`: see `RecoveryReason`), or `gap` — offsets jumped on the live feed without a
 * notice (the server dropped publications for this client over its limits, or the
 * engine lost them).
 */
export type ClientRecoveryReason = RecoveryReason | 'gap';

/**
 * What the client knows of a topic's continuity, after a reconnection (the server's
 * notice) or when the live feed shows a break. `recovered: true`: every publication
 * missed follows (`missed` of them), in order, before anything live. `recovered: false`:
 * some are lost (`reason`): refetch the topic's state. `epoch`/`offset`: the topic's
 * position the messages that follow come after.
 */
export class ClientRecoveryEvent extends Event {
  readonly topic: string;
  readonly recovered: boolean;
  readonly reason: ClientRecoveryReason | undefined;
  readonly epoch: string;
  readonly offset: number;
  readonly missed: number | undefined;
  constructor(init: { topic: string; recovered: boolean; reason?: ClientRecoveryReason; epoch: string; offset: number; missed?: number }) {
    super('recovery');
    this.topic = init.topic;
    this.recovered = init.recovered;
    this.reason = init.reason;
    this.epoch = init.epoch;
    this.offset = init.offset;
    this.missed = init.missed;
  }
}

export class ClientCloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  /** True when a close packet (or frame) was exchanged; false when the connection was lost. */
  readonly wasClean: boolean;
  /** True when the client will try to connect again (a new session follows, with `open`). */
  readonly willReconnect: boolean;
  constructor(code: number, reason: string, wasClean: boolean, willReconnect: boolean) {
    super('close');
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
    this.willReconnect = willReconnect;
  }
}

export class ClientErrorEvent extends Event {
  readonly error: Error;
  readonly message: string;
  constructor(error: Error) {
    super('error');
    this.error = error;
    this.message = error.message;
  }
}

/** `open` (a new session), `resume` (the same session after a break) and `transport`. */
export class ClientStateEvent extends Event {
  readonly transport: string;
  readonly sid: string;
  constructor(type: 'open' | 'resume' | 'transport', transport: string, sid: string) {
    super(type);
    this.transport = transport;
    this.sid = sid;
  }
}

export class ClientReconnectingEvent extends Event {
  readonly attempt: number;
  readonly delay: number;
  constructor(attempt: number, delay: number) {
    super('reconnecting');
    this.attempt = attempt;
    this.delay = delay;
  }
}
