import type { MessageCodec } from '../websocket/codec.js';
import type { ResolvedServerOptions } from './options.js';

/**
 * Chooses the extensions of a connection from the client's Sec-WebSocket-Extensions
 * offer (RFC 6455 §9.1). Declining is always allowed: the handshake then goes on without
 * the extension. A malformed offer throws a `HandshakeError` (400).
 */
export type ExtensionNegotiator = (
  offer: string,
  options: ResolvedServerOptions,
) => { response: string; codec: MessageCodec | null };

/** Accepts no extension (permessage-deflate disabled). */
export const noExtensions: ExtensionNegotiator = () => ({ response: '', codec: null });
