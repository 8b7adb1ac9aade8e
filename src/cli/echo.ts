import { Server } from '../server/server.js';
import { enableHttpTransports } from '../transports/http-transports.js';
import type { ServerOptions } from '../server/options.js';
import type { Handler, Peer } from '../types.js';

/**
 * `hotline echo`: every path echoes (text as text, binary as binary) over every transport
 * (WebSocket, SSE, long-polling, polling, interval-polling); on `/broadcast`
 * each message goes to every connection on `/broadcast` instead, through pub/sub (one
 * frame built per message, whatever the number of listeners).
 */
export const BROADCAST_PATH = '/broadcast';
const BROADCAST_TOPIC = 'broadcast';

interface EchoData {
  broadcast: boolean;
}

export function echoHandler(server: Server): Handler<EchoData> {
  return {
    upgrade(request) {
      return { data: { broadcast: request.path === BROADCAST_PATH } };
    },
    open(peer: Peer<EchoData>) {
      if (peer.data.broadcast) peer.subscribe(BROADCAST_TOPIC);
    },
    message(peer: Peer<EchoData>, data: Buffer, isBinary: boolean) {
      if (peer.data.broadcast) server.publish(BROADCAST_TOPIC, data, isBinary);
      else peer.send(data, isBinary);
    },
  };
}

export function createEchoServer(options: ServerOptions = {}): Server {
  const server = new Server(options);
  server.route('*', echoHandler(server));
  enableHttpTransports(server);
  return server;
}
