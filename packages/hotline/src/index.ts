/**
 * Hotline: real-time communication for Node.js.
 *
 *   import { Server, WebSocket } from 'hotline';
 */
export {
  Server,
  CLOSE_MARGIN,
  type Route,
  type CloseOptions,
  type PublishOptions,
  type HttpRouteHandler,
  type ServerTransport,
  type ShutdownOptions,
  type UpgradeHead,
  type ListenOptions,
  type Opening,
  type AnyHttpServer,
} from './server/server.js';
export { type ServerOptions, DEFAULT_SERVER_OPTIONS } from './server/options.js';
export { WebSocket, type WebSocketOptions, type BinaryType } from './client/websocket.js';
export { CloseEvent, ErrorEvent } from './client/events.js';
export {
  Transport,
  TRANSPORTS,
  ReadyState,
  UpgradeRejection,
  type TransportName,
  type Handler,
  type HookResult,
  type Peer,
  type Payload,
  type RouteParams,
  type SendOptions,
  type SendResult,
  type UpgradeRequest,
  type UpgradeAccept,
} from './types.js';
export {
  HotlineError,
  HandshakeError,
  ProtocolError,
  TransportError,
  CloseCode,
  type ErrorCode,
} from './errors.js';
export {
  enableHttpTransports,
  HttpTransports,
  type HttpTransportOptions,
  type HttpTransportName,
  type CorsOptions,
  DEFAULT_HTTP_TRANSPORT_OPTIONS,
  HTTP_TRANSPORTS,
} from './transports/index.js';
export { type PerMessageDeflateOptions, DEFLATE_DEFAULTS } from './protocol/permessage-deflate.js';
export {
  connect,
  HotlineClient,
  ClientState,
  TransportFailure,
  type ClientOptions,
  type ReconnectOptions,
  ClientRecoveryEvent,
  type ClientRecoveryReason,
} from './browser/index.js';
export { MemoryEngine, type MemoryEngineOptions } from './pubsub/memory-engine.js';
export { type EngineOptions, ENGINE_DEFAULTS } from './pubsub/engine-options.js';
export type { StreamPosition, RecoveryReason } from './protocol/position.js';
export type {
  PubSubEngine,
  EngineHost,
  EnginePublishOptions,
  PublishAck,
  RecoveryResult,
  PresenceMember,
  PresenceEvent,
  PresenceRegistry,
  NodeDirectory,
} from './pubsub/engine.js';
export type { PublishedMessage } from './pubsub/message.js';
