/**
 * The transport drivers and their contract, for an owner other than `HotlineClient`: an
 * environment that brings its own I/O and keeps its own policy (the lab's benchmark
 * clients run these, so that what they measure is the code users run). One entry point,
 * so that such an owner depends on nothing else of the client's internals.
 */
export { type Driver, type DriverOwner, type Outgoing, TransportFailure, outgoing } from './driver.js';
export type { ClientIo, FetchLike, RequestLike, ResponseLike, TimerHandle, WebSocketConstructor, WebSocketLike } from './io.js';
export { type ClientOptions, type ResolvedClientOptions, type TransportName, resolveClientOptions } from './options.js';
export { createDriver } from './transports.js';
