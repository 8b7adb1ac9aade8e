/**
 * A client shell and a server shell connected by an in-memory duplex pair, each owned by
 * a recording owner: what a test needs to drive the WebSocket shell with no server, no
 * handshake and no TCP.
 */
import { Side } from '../../src/protocol/side.js';
import { Sweep } from '../../src/timers/sweep.js';
import type { ConnectionOwner } from '../../src/websocket/owner.js';
import { type ShellOptions, WebSocketShell } from '../../src/websocket/shell.js';
import { type DuplexEnd, duplexPair } from './duplex-pair.js';
import { withTimeout } from './timing.js';

export type ShellEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'closing' }
  | { type: 'drain' }
  | { type: 'error'; error: Error }
  | { type: 'close'; code: number; reason: string; wasClean: boolean; failure: Error | null };

/** One end's facade: what its owner was told, in order, and a way to wait for more. */
export class Endpoint {
  readonly events: ShellEvent[] = [];
  /** Replaced by a test to make a hook throw or reject; called before recording. */
  onEvent: ((event: ShellEvent) => unknown) | null = null;
  shell!: WebSocketShell<Endpoint>;
  private waiters: Array<() => void> = [];

  constructor(readonly name: string) {}

  record(event: ShellEvent): unknown {
    this.events.push(event);
    for (const wake of this.waiters.splice(0)) wake();
    return this.onEvent?.(event);
  }

  of<T extends ShellEvent['type']>(type: T): Extract<ShellEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<ShellEvent, { type: T }>[];
  }

  /** The `count`-th event of `type` (1 = the first), once it has happened. */
  async next<T extends ShellEvent['type']>(type: T, count = 1, ms = 2000): Promise<Extract<ShellEvent, { type: T }>> {
    const found = (): Extract<ShellEvent, { type: T }> | undefined => this.of(type)[count - 1];
    const ready = new Promise<Extract<ShellEvent, { type: T }>>((resolve) => {
      const check = (): void => {
        const event = found();
        if (event !== undefined) resolve(event);
        else this.waiters.push(check);
      };
      check();
    });
    return withTimeout(ready, ms, `${this.name}: ${type} #${count}`);
  }
}

/** One owner for every endpoint, as a server route's owner serves all its peers. */
export const recordingOwner: ConnectionOwner<Endpoint> = {
  message: (end, data, isBinary) => end.record({ type: 'message', data, isBinary }),
  ping: (end, data) => end.record({ type: 'ping', data }),
  pong: (end, data) => end.record({ type: 'pong', data }),
  closing: (end) => end.record({ type: 'closing' }),
  drain: (end) => end.record({ type: 'drain' }),
  error: (end, error) => end.record({ type: 'error', error }),
  close(end, code, reason, wasClean) {
    end.record({ type: 'close', code, reason, wasClean, failure: end.shell.failure });
  },
};

export const DEFAULT_SHELL_OPTIONS: Omit<ShellOptions, 'side'> = {
  maxPayload: 1024 * 1024,
  maxFragments: 1024,
  closeTimeout: 1000,
  idleTimeout: 0,
  sendPings: false,
  maxBufferedAmount: 8 * 1024 * 1024,
  codec: null,
  protocol: '',
  extensions: '',
};

export interface ShellPairOptions {
  client?: Partial<ShellOptions>;
  server?: Partial<ShellOptions>;
  /** Of the duplex pair: see `DuplexPairOptions`. */
  highWaterMark?: number;
  /** ms per sweep tick; the tests call `sweep(now)` themselves, with the clock they want. */
  sweepInterval?: number;
}

export interface ShellPair {
  client: Endpoint;
  server: Endpoint;
  clientEnd: DuplexEnd;
  serverEnd: DuplexEnd;
  sweep: Sweep;
}

/** Opens one endpoint's shell over `socket`, reading at once. */
export function openShell(name: string, socket: DuplexEnd, sweep: Sweep, options: ShellOptions): Endpoint {
  const end = new Endpoint(name);
  end.shell = new WebSocketShell(socket, recordingOwner, end, sweep, options);
  end.shell.start(Buffer.alloc(0));
  return end;
}

export function shellPair(options: ShellPairOptions = {}): ShellPair {
  const { client: clientEnd, server: serverEnd } = duplexPair(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark });
  const sweep = new Sweep(options.sweepInterval ?? 1000);
  const client = openShell('client', clientEnd, sweep, { ...DEFAULT_SHELL_OPTIONS, side: Side.CLIENT, ...options.client });
  const server = openShell('server', serverEnd, sweep, { ...DEFAULT_SHELL_OPTIONS, side: Side.SERVER, ...options.server });
  return { client, server, clientEnd, serverEnd, sweep };
}
