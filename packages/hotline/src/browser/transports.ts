/**
 * The driver for each transport name: a WebSocket of its own, or an HTTP session whose
 * downstream is long, short or interval polling, or an event stream.
 */
import type { Driver, DriverOwner } from './driver.js';
import type { TransportName } from './options.js';
import { SessionDriver } from './session-driver.js';
import { WebSocketDriver } from './websocket-driver.js';

export function createDriver(owner: DriverOwner, name: TransportName): Driver {
  return name === 'websocket' ? new WebSocketDriver(owner) : new SessionDriver(owner, name);
}
