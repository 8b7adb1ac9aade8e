import type { HotlineError } from '../errors.js';
import type { SharedDeflation, SharedFrameCallback, SharedMessage } from './shared-deflate.js';

/**
 * A per-message codec stage (RFC 7692 permessage-deflate) as the connection shell uses
 * it. Both directions complete their callbacks in call order.
 */
export interface MessageCodec {
  /** Whether a message of this size is worth compressing (the size threshold). */
  shouldCompress(length: number): boolean;
  /** Compresses a whole message; the output lacks the trailing 00 00 ff ff (§7.2.1). */
  compress(data: Buffer, callback: (error: Error | null, result?: Buffer) => void): void;
  /**
   * Joins the compression of a message shared with other connections, calling back with
   * the whole frame; null when this connection's output depends on its own history
   * (context takeover, RFC 7692 §7.1.1) and `compress` must be used. Callbacks of shared
   * jobs may complete out of call order with `compress`'s.
   */
  compressShared(message: SharedMessage, callback: SharedFrameCallback): SharedDeflation | null;
  /** Inflates a whole message, failing with 1009 past the size limit, 1007 on bad data. */
  decompress(data: Buffer, callback: (error: HotlineError | null, result?: Buffer) => void): void;
  /** Frees zlib state; pending callbacks are called at once with an error, never later. */
  close(): void;
}
