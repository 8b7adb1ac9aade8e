/**
 * The event classes of the WHATWG WebSocket API that Node 20 lacks as globals. `Event`,
 * `EventTarget` and `MessageEvent` are Node's own.
 */

/** DOM's `EventInit` (the Node types carry `Event` but not its init dictionary). */
export interface EventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** HTML §9.3 `CloseEvent`. */
export class CloseEvent extends Event {
  readonly wasClean: boolean;
  readonly code: number;
  readonly reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.wasClean = init.wasClean ?? false;
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
  }
}

export interface ErrorEventInit extends EventInit {
  error?: unknown;
  message?: string;
}

/**
 * Browsers fire a bare `Event` named "error"; in Node the cause matters, so the event
 * carries it (`error.code` is a stable `HL_ERR_*` code), as undici's WebSocket does.
 */
export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;

  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.error = init.error;
    this.message = init.message ?? '';
  }
}
