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
  return resolved;
}
