import http from 'node:http';
import { WebSocket } from '../../src/client/websocket.js';
import { type Envelope, decodeEnvelope } from '../../src/protocol/session/envelope.js';

/** A raw WebSocket that records every message as it came (bytes and type). */
export interface RawClient {
  ws: WebSocket;
  frames: Array<{ bytes: Buffer; text: boolean }>;
  /** The messages, decoded as envelopes. */
  envelopes(): Envelope[];
  until(n: number, timeout?: number): Promise<void>;
  close(): Promise<void>;
}

export function rawClient(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<RawClient> {
  const ws = new WebSocket(url, [], options);
  ws.binaryType = 'nodebuffer';
  const frames: Array<{ bytes: Buffer; text: boolean }> = [];
  const waiters: Array<() => void> = [];
  ws.addEventListener('message', (event) => {
    const data = (event as MessageEvent).data as string | Buffer;
    frames.push(typeof data === 'string' ? { bytes: Buffer.from(data), text: true } : { bytes: data, text: false });
    for (const waiter of waiters.splice(0)) waiter();
  });
  const client: RawClient = {
    ws,
    frames,
    envelopes: () => frames.map((frame) => decodeEnvelope(frame.bytes, frame.text)),
    until(n, timeout = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${frames.length} of ${n} messages within ${timeout} ms`)), timeout);
        const check = () => {
          if (frames.length >= n) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.addEventListener('close', () => resolve());
        ws.close();
      });
    },
  };
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(client));
    ws.addEventListener('error', (event) => reject((event as unknown as { error?: Error }).error ?? new Error('WebSocket failed')));
  });
}

/** The status and body a WebSocket handshake to `path` is refused with. */
export function refusedUpgrade(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    request.on('upgrade', (_response, socket) => {
      socket.destroy();
      reject(new Error('the handshake was accepted'));
    });
    request.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** The query of an enveloped connection with these positions. */
export function sinceQuery(positions: Array<[string, string, number]>): string {
  return `envelope=1&since=${encodeURIComponent(JSON.stringify(positions))}`;
}
