/**
 * Pub/sub: clients subscribe to topics and publish to them with small JSON messages on
 * `/pubsub`; the backend publishes too, with `POST /publish?topic=NAME` (a JSON body),
 * which calls `server.publish`. A publication is encoded once and shared by every
 * subscriber, whatever transport each one uses.
 *
 * From a client:                       To it:
 *   {"op":"subscribe","topic":"t"}       {"type":"subscribed","topic":"t"}
 *   {"op":"unsubscribe","topic":"t"}     {"type":"unsubscribed","topic":"t"}
 *   {"op":"publish","topic":"t",         {"type":"published","topic":"t","delivered":N}
 *    "data":<any JSON>}                  and, to the topic's other subscribers,
 *                                        {"type":"message","topic":"t","data":<JSON>}
 *   anything else                        {"type":"error","error":"…"}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, enableHttpTransports, type Peer } from 'hotline';

/** Letters, digits and `_ . : -`: safe in a URL and in a log line. */
export const TOPIC_PATTERN = /^[\w.:-]{1,64}$/;
/** Topics one connection may hold at once: bounds the index a client can make us build. */
export const MAX_TOPICS = 32;
/** A message or a published body, in bytes. */
export const MAX_MESSAGE = 64 * 1024;

export type Request =
  | { op: 'subscribe' | 'unsubscribe'; topic: string }
  | { op: 'publish'; topic: string; data: unknown };

export type Reply =
  | { type: 'subscribed' | 'unsubscribed'; topic: string }
  | { type: 'published'; topic: string; delivered: number }
  | { type: 'message'; topic: string; data: unknown }
  | { type: 'error'; error: string };

export interface PubSubServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export async function start(port = 0, host = '127.0.0.1'): Promise<PubSubServer> {
  // maxPayload: one message plus its JSON envelope; more is closed with 1009.
  const server = new Server({ maxPayload: MAX_MESSAGE + 1024 });

  server.route('/pubsub', {
    message(peer, data, isBinary) {
      // RFC 6455 §7.4.1: 1003, "received a type of data it cannot accept".
      if (isBinary) return peer.close(1003, 'JSON text only');
      const request = parseRequest(data.toString());
      if (typeof request === 'string') return reply(peer, { type: 'error', error: request });
      const { topic } = request;
      switch (request.op) {
        case 'subscribe':
          if (!peer.isSubscribed(topic) && peer.topics.length >= MAX_TOPICS) {
            return reply(peer, { type: 'error', error: `at most ${MAX_TOPICS} topics per connection` });
          }
          peer.subscribe(topic);
          return reply(peer, { type: 'subscribed', topic });
        case 'unsubscribe':
          peer.unsubscribe(topic);
          return reply(peer, { type: 'unsubscribed', topic });
        case 'publish': {
          // Every subscriber but the sender; the count says how many took it.
          const delivered = server.publish(topic, envelope(topic, request.data), false, { except: peer });
          return reply(peer, { type: 'published', topic, delivered });
        }
      }
    },
  });
  enableHttpTransports(server);

  const address = await server.listen(port, host, (request, response) => publishEndpoint(server, request, response));
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    server,
    close: () => server.close({ timeout: 1000 }),
  };
}

/** The message every subscriber of `topic` gets. */
function envelope(topic: string, data: unknown): string {
  return JSON.stringify({ type: 'message', topic, data } satisfies Reply);
}

function reply(peer: Peer, message: Reply): void {
  peer.send(JSON.stringify(message));
}

/** A request, or what is wrong with it. */
export function parseRequest(text: string): Request | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const { op, topic } = value as Record<string, unknown>;
  if (op !== 'subscribe' && op !== 'unsubscribe' && op !== 'publish') return 'op: subscribe, unsubscribe or publish';
  if (typeof topic !== 'string' || !TOPIC_PATTERN.test(topic)) return 'topic: 1-64 letters, digits, or _ . : -';
  if (op !== 'publish') return { op, topic };
  if (!('data' in value)) return 'publish needs data';
  return { op, topic, data: (value as { data: unknown }).data };
}

/** `POST /publish?topic=NAME` with a JSON body: publishes it, answers `{ delivered }`. */
function publishEndpoint(server: Server, request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (url.pathname !== '/publish') return answer(response, 404, { error: 'not found' });
  if (request.method !== 'POST') return answer(response, 405, { error: 'POST only' }, { Allow: 'POST' });
  const topic = url.searchParams.get('topic') ?? '';
  if (!TOPIC_PATTERN.test(topic)) return answer(response, 400, { error: 'topic: 1-64 letters, digits, or _ . : -' });
  if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
    return answer(response, 415, { error: 'Content-Type: application/json' });
  }
  readBody(request, MAX_MESSAGE).then(
    (body) => {
      let data: unknown;
      try {
        data = JSON.parse(body.toString());
      } catch {
        return answer(response, 400, { error: 'body is not JSON' });
      }
      answer(response, 200, { delivered: server.publish(topic, envelope(topic, data)) });
    },
    () => answer(response, 413, { error: `body over ${MAX_MESSAGE} bytes` }, { Connection: 'close' }),
  );
}

/** The request body, or a rejection as soon as it passes `limit` bytes (declared or counted). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers['content-length'] ?? 0) > limit) return reject(new Error('too large'));
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        reject(new Error('too large'));
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}
