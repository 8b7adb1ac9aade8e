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
  readonly broadcast: boolean;
}

/**
 * A peer's data only says which of the two behaviours it gets, and is never written:
 * two shared objects serve every peer, so an idle connection holds no data of its own.
 */
const ON_BROADCAST: EchoData = Object.freeze({ broadcast: true });
const ON_ECHO: EchoData = Object.freeze({ broadcast: false });

export function echoHandler(server: Server): Handler<EchoData> {
  return {
    upgrade(request) {
      return { data: request.path === BROADCAST_PATH ? ON_BROADCAST : ON_ECHO };
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
