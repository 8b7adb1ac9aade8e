import { invalidArgument } from '../errors.js';
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD } from '../protocol/limits.js';
import type { PerMessageDeflateOptions } from '../protocol/permessage-deflate.js';

/**
 * Server options. Every limit has a safe default, and the reason for it sits next to it.
 */
export interface ServerOptions {
  /** Largest message accepted, after reassembly and inflation. Default 16 MiB (see protocol/limits.ts). */
  maxPayload?: number;
  /** Most fragments in one message. Default 262,144 (see protocol/limits.ts). */
  maxFragments?: number;
  /**
   * ms from the upgrade request to the 101 (the `upgrade` hook included), and — when the
   * server listens on its own — to a complete request head. Default 10 s: a handshake is
   * one round trip; a peer that takes longer is slow-loris, not slow.
   */
  handshakeTimeout?: number;
  /** ms to wait for the peer's Close before dropping TCP. Default 5 s (browsers answer at once). */
  closeTimeout?: number;
  /**
   * ms of silence after which a peer is dropped; a Ping goes out at half of it. Default
   * 120 s: under common proxy idle cuts (often 60-300 s) once pings flow every 60 s.
   * 0 disables both.
   */
  idleTimeout?: number;
  /** Send heartbeat Pings (at idleTimeout / 2). Default true. */
  sendPings?: boolean;
  /**
   * Above this many bytes waiting for the kernel, `peer.send` returns `dropped` instead
   * of queueing: a slow consumer cannot grow memory without bound. Default 8 MiB.
   */
  maxBufferedAmount?: number;
  /**
   * Most bytes held, across every WebSocket connection of the server, in frames and
   * messages not yet complete: reads buffered until a frame is whole, large frames being
   * assembled, fragments being reassembled, output of messages being inflated. Each
   * message is bounded by `maxPayload`; this bounds their sum, which would otherwise be
   * `maxPayload` times the number of connections (40 peers each 15 MiB into a 16 MiB frame
   * would hold 600 MiB). Past it, the connections holding the most are failed with 1013 (Try
   * Again Later) to make room, or the one asking if it holds the most itself. Default
   * 128 MiB: eight messages at the default `maxPayload` at once, which a 1 GiB machine
   * holds beside `maxOutboundBytes`.
   */
  maxPartialBytes?: number;
  /**
   * Most bytes of inflated output per second (permessage-deflate), across every
   * connection of the server. A compressed message may inflate ~1000-fold, so a peer
   * under every size limit can still keep zlib, and the handler of its output, busy
   * without pause; past this rate, inflation waits, the socket of
   * each connection waiting is paused, and connections take turns, so one connection's
   * bombs never run ahead of another's small messages. Default 64 MiB/s: a fraction of
   * one core (zlib inflates several hundred MiB/s), and 6 KiB/s for each of 10,000
   * connections — far above chat or JSON traffic. `Infinity` turns it off.
   */
  maxInflateRate?: number;
  /**
   * Most open WebSocket connections (and handshakes in progress); beyond it, upgrades are
   * answered 503. Default 100,000: far above what one process should hold, but finite.
   */
  maxConnections?: number;
  /**
   * Most bytes queued for peers that have not read them yet, across every peer of the
   * server and every transport (WebSocket buffers beyond the kernel, session queues,
   * bytes buffered in HTTP responses). Each peer is bounded by its own limit; this bounds
   * their sum, which would otherwise be that limit times the number of peers. When a send
   * would pass it, the peers holding the most are closed with 1013 (Try Again Later) to
   * make room; if the sender is itself the largest, its send is refused (`dropped`).
   * Default 256 MiB: what a 1 GiB machine can hold on top of everything else.
   */
  maxOutboundBytes?: number;
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or options. Default off:
   * compression costs memory on every connection that uses it (see the README's table)
   * and CPU on every message; enable it for text-heavy traffic.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

export type ResolvedServerOptions = Required<ServerOptions>;

export const DEFAULT_SERVER_OPTIONS: Readonly<ResolvedServerOptions> = {
  maxPayload: DEFAULT_MAX_PAYLOAD,
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  handshakeTimeout: 10_000,
  closeTimeout: 5_000,
  idleTimeout: 120_000,
  sendPings: true,
  maxBufferedAmount: 8 * 1024 * 1024,
  maxPartialBytes: 128 * 1024 * 1024,
  maxInflateRate: 64 * 1024 * 1024,
  maxConnections: 100_000,
  maxOutboundBytes: 256 * 1024 * 1024,
  perMessageDeflate: false,
};

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const resolved = { ...DEFAULT_SERVER_OPTIONS };
  for (const key of Object.keys(DEFAULT_SERVER_OPTIONS) as (keyof ResolvedServerOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  for (const key of ['maxPartialBytes', 'maxInflateRate'] as const) {
    const value = resolved[key];
    if (!(typeof value === 'number' && value > 0)) throw invalidArgument(`${key} must be a positive number (Infinity for no limit)`);
  }
  return resolved;
}
