/**
 * What every engine carries for a publish: the payload and whether it is binary (a
 * WebSocket Binary or Text message, RFC 6455 §5.6; a `b` or `t` entry on the HTTP
 * transports). A broker engine puts exactly these two on the wire; a transport may cache
 * what it derives from them on the object it is handed (see `websocket/publication.ts`),
 * but pub/sub never reads anything else.
 */
export interface PublishedMessage {
  readonly data: Buffer;
  readonly isBinary: boolean;
}
