/**
 * Hotline inside an Express app: one port serves the Express routes (`/api/...`) and
 * the live feed `/live` over WebSocket, SSE, long polling and polling. Express never
 * sees the feed's requests: `hotline.attach(httpServer)` answers those on Hotline's
 * routes and hands every other request to Express.
 *
 *   POST /api/notify {"text": "..."}  ->  {"delivered": N}, and every client of /live
 *                                         gets {"type":"notification","text":"..."}
 */
import http from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import { Server, enableHttpTransports } from 'hotline';

export const MAX_TEXT = 500;

export interface ExpressExample {
  readonly url: string;
  readonly port: number;
  readonly app: express.Express;
  readonly hotline: Server;
  close(): Promise<void>;
}

/** The Express app: ordinary routes, one of which publishes to the live feed. */
export function createApp(hotline: Server): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  app.get('/api/health', (_request, response) => {
    response.json({ ok: true, websockets: hotline.connections });
  });

  app.post('/api/notify', (request, response) => {
    if (!request.is('application/json')) {
      response.status(415).json({ error: 'Content-Type: application/json' });
      return;
    }
    const text: unknown = request.body?.text;
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) {
      response.status(400).json({ error: `body: {"text": 1-${MAX_TEXT} characters}` });
      return;
    }
    // One frame built, shared by every subscriber; the count is who took it.
    const delivered = hotline.publish('notifications', JSON.stringify({ type: 'notification', text }));
    response.json({ delivered });
  });

  app.use((_request, response) => {
    response.status(404).json({ error: 'not found' });
  });
  // Express's own handler would answer in HTML, with the stack outside production.
  const errors: ErrorRequestHandler = (error, _request, response, _next) => {
    const status = Number.isInteger(error?.status) && error.status >= 400 && error.status < 600 ? error.status : 500;
    response.status(status).json({ error: status === 500 ? 'internal error' : String(error.message) });
  };
  app.use(errors);
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

export async function start(port = 0, host = '127.0.0.1'): Promise<ExpressExample> {
  const hotline = createHotline();
  const app = createApp(hotline);
  const httpServer = http.createServer(app);
  // After Express is the server's request listener: Hotline goes first on its routes.
  hotline.attach(httpServer);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    app,
    hotline,
    async close() {
      // Hotline first: its peers get a Close (1001) and its sessions their close packet,
      // which they fetch over this server; then the server itself.
      await hotline.close({ timeout: 1000 });
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
