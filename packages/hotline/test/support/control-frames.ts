/**
 * The server's Handler has no hooks for Pings and Pongs; a test that must see them listens
 * on one peer's shell, through an owner that adds the two hooks to the route's own.
 */
import type { Peer } from '../../src/types.js';
import type { WebSocketPeer } from '../../src/server/peer.js';

export interface ControlFrameListeners {
  ping?(data: Buffer): void;
  pong?(data: Buffer): void;
}

/** Calls `listeners` for each Ping or Pong that reaches `peer` (a WebSocket peer) from now on. */
export function onControlFrames(peer: Peer<any>, listeners: ControlFrameListeners): void {
  const shell = (peer as unknown as WebSocketPeer).shell as unknown as { settings: { owner: object } };
  const hooks: Record<string, (facade: unknown, data: Buffer) => void> = {};
  if (listeners.ping) hooks['ping'] = (_facade, data) => listeners.ping!(data);
  if (listeners.pong) hooks['pong'] = (_facade, data) => listeners.pong!(data);
  // The route's owner stays the prototype: every other hook is its own. The shell keeps
  // its owner in the settings it shares with the route's other peers: this one gets a copy.
  const owner = Object.assign(Object.create(shell.settings.owner) as object, hooks);
  shell.settings = { ...shell.settings, owner };
}
