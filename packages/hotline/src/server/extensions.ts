import { parseExtensions } from '../protocol/extensions.js';
import {
  type PerMessageDeflateOptions,
  type ResolvedDeflateOptions,
  negotiateServer,
  resolveDeflateOptions,
} from '../protocol/permessage-deflate.js';
import { Side } from '../protocol/side.js';
import type { MessageCodec } from '../websocket/codec.js';
import { PerMessageDeflate } from '../websocket/permessage-deflate.js';
import { limiterFor } from '../websocket/zlib-limiter.js';
import type { ByteBudget } from '../resources/byte-budget.js';
import type { InflateScheduler } from '../websocket/inflate-scheduler.js';

/**
 * Chooses the extensions of a connection from the client's Sec-WebSocket-Extensions
 * offer (RFC 6455 §9.1). Declining is always allowed: the handshake then goes on without
 * the extension. A malformed offer throws a `HandshakeError` (400).
 */
export type ExtensionNegotiator = (offer: string, server: NegotiatingServer) => NegotiatedExtensions;

/** What a codec takes from its server: the message limit and the budgets it shares. */
export interface NegotiatingServer {
  readonly options: { readonly maxPayload: number };
  readonly partial: ByteBudget | null;
  readonly inflate: InflateScheduler | null;
}

export interface NegotiatedExtensions {
  /** The Sec-WebSocket-Extensions response value ('' for none). */
  response: string;
  codec: MessageCodec | null;
}

const NONE: NegotiatedExtensions = { response: '', codec: null };

/** Accepts no extension (permessage-deflate disabled). */
export const noExtensions: ExtensionNegotiator = () => NONE;

/**
 * permessage-deflate (RFC 7692) on the server: options are resolved once, each
 * handshake takes the first offer that can be honoured, and the codec's zlib streams
 * are created only when a message is first compressed or inflated.
 *
 * A server that sets `concurrency` has a zlib limiter of its own (one server's options
 * never change another's); the others share the process-wide one. Its codecs share the
 * server's inflate rate and partial-message budget.
 */
export function deflateNegotiator(options: PerMessageDeflateOptions | true): ExtensionNegotiator {
  const resolved: ResolvedDeflateOptions = resolveDeflateOptions(options === true ? {} : options, Side.SERVER);
  const limiter = limiterFor(options === true ? undefined : options.concurrency);
  return (offer, server) => {
    if (offer === '') return NONE;
    const agreed = negotiateServer(parseExtensions(offer), resolved);
    if (agreed === null) return NONE;
    const codec = new PerMessageDeflate(agreed.params, Side.SERVER, {
      maxPayload: server.options.maxPayload,
      level: resolved.level,
      memLevel: resolved.memLevel,
      threshold: resolved.threshold,
      limiter,
      inflateScheduler: server.inflate,
      partialBudget: server.partial,
    });
    return { response: agreed.response, codec };
  };
}
