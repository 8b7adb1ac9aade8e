import { type StaticFile, sendJson, sendNotFound, sendStatic } from '../http-answers.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ChangeBudget } from '../change-budget.js';
import { isSameOrigin } from '../same-origin.js';
import { Balancer } from './balancer.js';
import { type ClusterStats, FEED_PATH, KILL_PATH, STATS_PATH } from './cluster-protocol.js';
import { FeedPublisher } from './feed-publisher.js';
import { NodeProcess } from './node-process.js';

/**
 * The lab as several nodes: N node processes on one Redis (cluster-node.ts), and this
 * process in front of them — the page, a round-robin balancer without affinity for the
 * feed route, the one publisher, and the page's controls.
 *
 *   / and /cluster         the cluster page (dist/web/cluster.html)
 *   /lab/cluster/feed      the feed, on every streaming transport: forwarded to the nodes
 *   GET  /cluster/stats    per node: up or down, clients, deliveries; the publisher's count
 *   POST /cluster/kill     {"node": k}: SIGKILL node k (same-origin, JSON, within the
 *                          change budget); it is started again 2 s later
 */
export interface ClusterLabOptions {
  redisUrl: string;
  /** Node processes, NODE_LIMITS. */
  nodes: number;
  /** Publishes a second. */
  rate: number;
  webRoot?: string;
  /** Kills one address may ask for at once, then one every 2 s. Default 5. */
  changeBurst?: number;
}

export interface ClusterLab {
  readonly nodes: readonly NodeProcess[];
  stats(): ClusterStats;
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
const STATIC: Record<string, StaticFile> = {
  '/': { file: 'cluster.html', type: 'text/html; charset=utf-8' },
  '/cluster': { file: 'cluster.html', type: 'text/html; charset=utf-8' },
  '/cluster.js': { file: 'cluster.js', type: 'text/javascript; charset=utf-8' },
  '/lab.css': { file: 'lab.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};
/** `{"node": 7}` is a dozen bytes. */
const MAX_BODY = 1024;

/** Starts the publisher and every node; rejects (HL_ERR_ENGINE_UNAVAILABLE) if Redis cannot be reached. */
export async function createClusterLab(options: ClusterLabOptions): Promise<ClusterLab> {
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  const publisher = await FeedPublisher.connect(options.redisUrl, options.rate);
  const ports: number[] = [];
  while (ports.length < options.nodes) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const nodes = ports.map((port, index) => new NodeProcess(index, port, options.redisUrl));
  await Promise.all(nodes.map((node) => node.start()));
  const balancer = new Balancer(() => nodes);
  const changes = new ChangeBudget(options.changeBurst);

  function stats(): ClusterStats {
    return {
      nodes: nodes.map((node) => node.stats(balancer.forwarded[node.index]!)),
      publisher: { rate: publisher.rate, acknowledged: publisher.acknowledged, failed: publisher.failed, last: publisher.last },
    };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const pathname = (request.url ?? '/').split('?', 1)[0]!;
    const method = request.method ?? 'GET';
    if (pathname === FEED_PATH) return balancer.forward(request, response);
    if (pathname === STATS_PATH && (method === 'GET' || method === 'HEAD')) return sendJson(response, 200, stats());
    if (pathname === KILL_PATH) {
      if (method !== 'POST') return sendJson(response, 405, { error: 'POST only' }, { Allow: 'POST' });
      if (!isSameOrigin(request.headers)) return refuse(request, response, 403, 'cross-origin request refused');
      // JSON only: a form or a text/plain fetch from another site cannot send it without a preflight.
      if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) return refuse(request, response, 415, 'send application/json');
      const body = await readBody(request);
      if (body === null) return sendJson(response, 413, { error: 'body too large' });
      const index = parseKill(body, nodes.length);
      if (typeof index === 'string') return sendJson(response, 400, { error: index });
      if (!changes.take(request.socket.remoteAddress ?? '')) return sendJson(response, 429, { error: 'too many kills: one every 2 s' }, { 'Retry-After': '2' });
      if (!nodes[index]!.kill()) return sendJson(response, 409, { error: `node ${index} is down already (it starts again by itself)` });
      return sendJson(response, 202, { node: index, restartIn: 2000 });
    }
    const entry = STATIC[pathname];
    if (entry !== undefined && (method === 'GET' || method === 'HEAD')) return sendStatic(response, method, webRoot, entry);
    sendNotFound(response);
  }

  const server = http.createServer({ requestTimeout: 300_000, keepAliveTimeout: 65_000 }, (request, response) => {
    handle(request, response).catch(() => {
      if (response.headersSent) response.destroy();
      else sendJson(response, 500, { error: 'internal error' });
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    if ((request.url ?? '').split('?', 1)[0] === FEED_PATH) balancer.upgrade(request, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  return {
    nodes,
    stats,
    async listen(port: number, host?: string): Promise<AddressInfo> {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      publisher.start();
      return server.address() as AddressInfo;
    },
    async close(): Promise<void> {
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      balancer.close();
      server.closeAllConnections();
      await Promise.all([publisher.close(), ...nodes.map((node) => node.stop())]);
      await closed;
    },
  };
}

/** The body of POST /cluster/kill: `{"node": k}`, k a node's index; else why not, as a sentence. */
function parseKill(body: Buffer, count: number): number | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'malformed JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).some((key) => key !== 'node')) return 'expected {"node": <index>}';
  const node = (value as { node?: unknown }).node;
  if (typeof node !== 'number' || !Number.isInteger(node) || node < 0 || node >= count) return `node must be an integer from 0 to ${count - 1}`;
  return node;
}

function refuse(request: IncomingMessage, response: ServerResponse, status: number, error: string): void {
  request.resume();
  sendJson(response, status, { error });
}

/** The body, or null when it exceeds MAX_BODY. */
async function readBody(request: IncomingMessage): Promise<Buffer | null> {
  if (Number(request.headers['content-length']) > MAX_BODY) {
    request.resume();
    return null;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A free TCP port on 127.0.0.1 for a node (the OS picks it; a node keeps it across restarts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
