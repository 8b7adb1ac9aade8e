/**
 * The Hotline browser client (also usable in Node: pass `WebSocket` from 'hotline').
 *
 *   import { connect } from '/hotline.js';
 *   const client = connect('/chat', { transports: ['websocket', 'long-polling'] });
 *   client.onmessage = (event) => console.log(event.data);
 */
export { connect, HotlineClient, ClientState, ALL_TRANSPORTS, TransportFailure } from './client.js';
export type { ClientOptions, ReconnectOptions, TransportName, WebSocketLike, WebSocketConstructor } from './client.js';
export { ClientCloseEvent, ClientErrorEvent, ClientMessageEvent, ClientReconnectingEvent, ClientRecoveryEvent, ClientStateEvent } from './events.js';
export type { ClientRecoveryReason } from './events.js';
// The errors `connect()` throws on misuse (`HL_ERR_INVALID_ARGUMENT`), so that browser code
// can test `instanceof HotlineError` as Node code does.
export { HotlineError, type ErrorCode } from '../errors.js';
