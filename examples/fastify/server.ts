/**
 * Hotline inside a Fastify app: one port serves the Fastify routes (`/api/...`) and
 * the live feed `/live` over WebSocket, SSE, long polling and polling. Hotline attaches
 * to `fastify.server`, the Node server Fastify creates: it answers requests on its own
 * routes and hands every other request to Fastify.
 *
 *   POST /api/notify {"text": "..."}  ->  {"delivered": N}, and every client of /live
 *                                         gets {"type":"notification","text":"..."}
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Server, enableHttpTransports } from 'hotline';

export const MAX_TEXT = 500;

export interface FastifyExample {
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  readonly hotline: Server;
  close(): Promise<void>;
}

/** The Fastify app: ordinary routes, one of which publishes to the live feed. */
export function createApp(hotline: Server): FastifyInstance {
  const app = Fastify({
    bodyLimit: 16 * 1024,
    // Fastify's validator coerces types by default ({"text": 42} would pass as "42").
    ajv: { customOptions: { coerceTypes: false } },
  });

  app.get('/api/health', async () => ({ ok: true, websockets: hotline.connections }));

  app.post<{ Body: { text: string } }>(
    '/api/notify',
    {
      // Fastify validates the body against the schema and answers 400 itself.
      schema: {
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: { text: { type: 'string', minLength: 1, maxLength: MAX_TEXT } },
        },
      },
    },
    async (request) => {
      // One frame built, shared by every subscriber; the count is who took it.
      const delivered = hotline.publish('notifications', JSON.stringify({ type: 'notification', text: request.body.text }));
      return { delivered };
    },
  );
  return app;
}

/** Hotline's part: the live feed. */
export function createHotline(): Server {
  const hotline = new Server();
  hotline.route('/live', {
    open(peer) {
      peer.subscribe('notifications');
      peer.send(JSON.stringify({ type: 'hello', transport: peer.transport }));
    },
    message(peer, data, isBinary) {
      peer.send(JSON.stringify({ type: 'echo', text: isBinary ? null : data.toString() }));
    },
  });
  enableHttpTransports(hotline);
  return hotline;
}

export async function start(port = 0, host = '127.0.0.1'): Promise<FastifyExample> {
  const hotline = createHotline();
  const app = createApp(hotline);
  // Fastify has added its request listener when it created the server: Hotline goes first.
  hotline.attach(app.server);
  await app.listen({ port, host });
  const address = app.server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    app,
    hotline,
    async close() {
      // Hotline first: its peers get a Close (1001) and its sessions their close packet,
      // which they fetch over this server; then Fastify closes the server.
      await hotline.close({ timeout: 1000 });
      await app.close();
    },
  };
}
