import type { StreamPosition } from '../protocol/position.js';

/**
 * What every engine carries for a publish: its topic, the payload and whether it is
 * binary (a WebSocket Binary or Text message, RFC 6455 §5.6; a `b` or `t` entry on the
 * HTTP transports), and the position the engine gave it in the topic's stream. A broker
 * engine puts exactly these on the wire; a transport may cache what it derives from them
 * on the object it is handed (see `websocket/publication.ts`), but pub/sub never reads
 * anything else.
 */
export interface PublishedMessage extends StreamPosition {
  readonly topic: string;
  readonly data: Buffer;
  readonly isBinary: boolean;
}
