/**
 * What a WebSocket shell is given: its options, the settings it shares with the other
 * connections of its owner, and what the opening handshake negotiated.
 */
import type { Side } from '../protocol/side.js';
import type { Sweep } from '../timers/sweep.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import type { MessageCodec } from './codec.js';
import { SendQueue } from './send-queue.js';
import { InflateStage } from './inflate-stage.js';

export interface ShellOptions {
  side: Side;
  maxPayload: number;
  maxFragments: number;
  /** ms to wait for the peer's part of the closing handshake before dropping TCP. */
  closeTimeout: number;
  /** ms without receiving anything before the connection is dropped (0 = never). */
  idleTimeout: number;
  /** Send a Ping when half of `idleTimeout` has passed in silence. */
  sendPings: boolean;
  /**
   * Above this many buffered bytes, `send` drops messages (Infinity = never), and a peer
   * whose automatic answers (pongs, the close echo) would pass it is failed with 1008.
   */
  maxBufferedAmount: number;
  /**
   * Whether `send` refuses messages over `maxBufferedAmount` (`dropped`). Default true;
   * the WHATWG client never refuses a send (its backlog shows in `bufferedAmount`), and
   * bounds only what the peer makes it answer.
   */
  dropsOverLimit?: boolean;
  /**
   * The server-wide budget of bytes held in incomplete frames and messages
   * (`maxPartialBytes`); none for the client.
   */
  partialBudget?: ByteBudget | null;
  /**
   * The server-wide budget of bytes queued for peers beyond the kernel
   * (`maxOutboundBytes`); none for the client.
   */
  outboundBudget?: ByteBudget | null;
  /** permessage-deflate, when negotiated. */
  codec: MessageCodec | null;
  /** Negotiated subprotocol and extensions, reported to the application. */
  protocol: string;
  extensions: string;
}

/**
 * What the connections of one owner (one route of a server, every client) nearly always
 * share, the owner included: kept once and pointed at, rather than copied into each
 * connection.
 */
export interface SharedSettings<O> {
  readonly owner: O;
  readonly sweep: Sweep;
  readonly closeTimeout: number;
  readonly idleTimeout: number;
  readonly sendPings: boolean;
  readonly maxBufferedAmount: number;
  readonly dropsOverLimit: boolean;
  readonly partialBudget: ByteBudget | null;
  readonly outboundBudget: ByteBudget | null;
}

/** The settings last used with each owner; a connection with the same values reuses them. */
const settingsByOwner = new WeakMap<object, SharedSettings<object>>();

export function sharedSettings<O extends object>(owner: O, sweep: Sweep, options: ShellOptions): SharedSettings<O> {
  const last = settingsByOwner.get(owner) as SharedSettings<O> | undefined;
  if (
    last !== undefined &&
    last.sweep === sweep &&
    last.closeTimeout === options.closeTimeout &&
    last.idleTimeout === options.idleTimeout &&
    last.sendPings === options.sendPings &&
    last.maxBufferedAmount === options.maxBufferedAmount &&
    last.dropsOverLimit === (options.dropsOverLimit ?? true) &&
    last.partialBudget === (options.partialBudget ?? null) &&
    last.outboundBudget === (options.outboundBudget ?? null)
  ) {
    return last;
  }
  const settings: SharedSettings<O> = {
    owner,
    sweep,
    closeTimeout: options.closeTimeout,
    idleTimeout: options.idleTimeout,
    sendPings: options.sendPings,
    maxBufferedAmount: options.maxBufferedAmount,
    dropsOverLimit: options.dropsOverLimit ?? true,
    partialBudget: options.partialBudget ?? null,
    outboundBudget: options.outboundBudget ?? null,
  };
  settingsByOwner.set(owner, settings);
  return settings;
}

/**
 * What the opening handshake settled (subprotocol, extensions, the permessage-deflate
 * codec) and, with a codec, its two stages: the send queue and the inflate stage. Most
 * connections negotiate nothing and share `NOTHING_NEGOTIATED`, which has neither.
 */
export class Negotiated {
  readonly sendQueue: SendQueue | null;
  readonly inflateStage: InflateStage | null;

  constructor(
    readonly protocol: string,
    readonly extensions: string,
    readonly codec: MessageCodec | null,
  ) {
    this.sendQueue = codec === null ? null : new SendQueue();
    this.inflateStage = codec === null ? null : new InflateStage();
  }
}

const NOTHING_NEGOTIATED = new Negotiated('', '', null);

/** What `options` say the handshake settled: most often the one shared `NOTHING_NEGOTIATED`. */
export function negotiatedFor(options: ShellOptions): Negotiated {
  return options.codec === null && options.protocol === '' && options.extensions === ''
    ? NOTHING_NEGOTIATED
    : new Negotiated(options.protocol, options.extensions, options.codec);
}
