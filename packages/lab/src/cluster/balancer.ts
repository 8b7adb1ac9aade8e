import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** A backend as the balancer sees it: where it listens, and whether to send it anything. */
export interface Backend {
  readonly port: number;
  readonly up: boolean;
}

/** RFC 9110 §7.6.1: these are for one connection only, never passed on by a proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/**
 * A load balancer in front of the nodes, without affinity, as nginx's default
 * round-robin: each request (and each WebSocket upgrade) goes to the next node that is
 * up, whatever node the client's previous request went to. A held poll may then be on
 * one node and the POST made meanwhile on another: the nodes route a session's requests
 * to its owner themselves. Answers stream through as they come (an SSE stream, a held
 * poll); either side going away ends the other. Only 127.0.0.1 backends.
 */
export class Balancer {
  /** Requests and upgrades sent to each backend so far, by index. */
  readonly forwarded: number[];
  private turn = 0;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly open = new Set<{ destroy(): void }>();

  constructor(private readonly backends: () => readonly Backend[]) {
    this.forwarded = backends().map(() => 0);
  }

  /** The next backend that is up, in turn; undefined when none is. */
  private next(): number | undefined {
    const all = this.backends();
    for (let tried = 0; tried < all.length; tried++) {
      const index = this.turn++ % all.length;
      if (all[index]!.up) {
        this.forwarded[index]!++;
        return index;
      }
    }
    return undefined;
  }

  forward(request: IncomingMessage, response: ServerResponse): void {
    const index = this.next();
    if (index === undefined) return unavailable(response);
    const upstream = http.request({
      host: '127.0.0.1',
      port: this.backends()[index]!.port,
      method: request.method,
      path: request.url,
      headers: forwardedHeaders(request),
      agent: this.agent,
    });
    const entry = { destroy: () => end() };
    this.open.add(entry);
    const end = () => {
      this.open.delete(entry);
      upstream.destroy();
      if (!response.writableFinished) response.destroy();
    };
    upstream.on('error', () => {
      this.open.delete(entry);
      // The node went away before it answered (killed between the pick and the connect):
      // the client is told as nginx would tell it, and tries again.
      if (!response.headersSent) unavailable(response);
      else response.destroy();
    });
    upstream.on('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
      // A held poll or an SSE stream may send nothing for a while: the head goes now.
      response.flushHeaders();
      answer.pipe(response);
      answer.on('aborted', end);
      answer.on('error', end);
      answer.on('end', () => this.open.delete(entry));
    });
    response.on('close', () => {
      if (!response.writableFinished) end();
    });
    request.on('error', end);
    request.pipe(upstream);
  }

  /** Tunnels an upgrade: the request head written again to the node, then bytes both ways. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const index = this.next();
    if (index === undefined) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    const upstream = net.connect(this.backends()[index]!.port, '127.0.0.1');
    const entry = { destroy: () => (upstream.destroy(), socket.destroy()) };
    this.open.add(entry);
    upstream.once('connect', () => {
      upstream.setNoDelay(true);
      upstream.write(requestHead(request));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => {
      if (upstream.connecting) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    upstream.on('close', () => {
      this.open.delete(entry);
      socket.destroy();
    });
    socket.on('close', () => upstream.destroy());
  }

  close(): void {
    for (const entry of [...this.open]) entry.destroy();
    this.agent.destroy();
  }
}

function unavailable(response: ServerResponse): void {
  const body = JSON.stringify({ error: 'no node is up' });
  response.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '1' });
  response.end(body);
}

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((name) => name.trim()));
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The client's headers for the node, and who the client is (the nodes' limits per client key on it). */
function forwardedHeaders(request: IncomingMessage): Record<string, string | string[]> {
  const headers = endToEnd(request.headers);
  headers['x-forwarded-for'] = request.socket.remoteAddress ?? '';
  return headers;
}

function requestHead(request: IncomingMessage): string {
  let head = `${request.method} ${request.url} HTTP/1.1\r\n`;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'x-forwarded-for') continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return head + `X-Forwarded-For: ${request.socket.remoteAddress ?? ''}\r\n\r\n`;
}
