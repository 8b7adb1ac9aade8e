/**
 * The client's events. Plain `Event` subclasses: `Event` and `EventTarget` exist in every
 * browser and in Node, and these carry the same fields whatever the transport.
 */

export class ClientMessageEvent extends Event {
  /** A string for text, an ArrayBuffer for binary. */
  readonly data: string | ArrayBuffer;
  constructor(data: string | ArrayBuffer) {
    super('message');
    this.data = data;
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
