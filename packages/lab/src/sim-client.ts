import http from 'node:http';
import { WebSocket } from 'hotline';
import { SseParser, decodeBatch, decodeHandshake, decodeSseData, type Handshake } from 'hotline/client';
import type { LabTransport } from './palette.js';

/**
 * Simulated clients for `bench transports` and the tests: one per transport, each
 * speaking the transport's wire protocol the way the browser client does (poll, ack,
 * resend, skip what it already has), with nothing else — no DOM, no reconnection logic —
 * so that a thousand of them fit in one process beside the server's.
 *
 * Each client has its own keep-alive agent, as each browser has its own connections: a
 * shared pool would let one client's poll ride on another's warm socket.
 */

export interface SimClientOptions {
  /** Base URL of the route, e.g. http://127.0.0.1:8080/lab/stream */
  url: string;
  transport: LabTransport;
  /**
   * 'browser' (default): the headers a desktop Chromium sends with the browser client's
   * requests (user agent, client hints, fetch metadata, referer...), so that the bytes on
   * the wire are a browser's. 'minimal': only what Node adds (Host, Connection).
   * No cookies either way: a real site's would add to every HTTP request.
   */
  headers?: 'browser' | 'minimal';
  /** Receives each text message, once, in order. */
  onMessage(text: string): void;
  /** The session ended or failed. */
  onClose?(reason: string): void;
}

export interface SimClient {
  readonly transport: LabTransport;
  /** Resolves with the set-up time (ms) when the first answer of the server (open) arrives. */
  readonly opened: Promise<number>;
  /** Sends a text message up (WebSocket: a frame; HTTP transports: a POST). */
  send(text: string): void;
  close(): void;
}

export function connectSim(options: SimClientOptions): SimClient {
  return options.transport === 'websocket' ? new WebSocketSim(options) : new HttpSim(options);
}

function now(): number {
  return performance.now();
}

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** What Chromium sends with a same-origin fetch() (as recorded from the lab page), minus Host and Connection. */
export function browserHeaders(origin: string, kind: 'get' | 'post' | 'upgrade'): Record<string, string> {
  if (kind === 'upgrade') {
    return {
      Pragma: 'no-cache',
      'Cache-Control': 'no-cache',
      'User-Agent': USER_AGENT,
      Origin: origin,
      'Accept-Encoding': 'gzip, deflate, br, zstd',
      'Accept-Language': 'en-US,en;q=0.9',
    };
  }
  return {
    ...(kind === 'get' ? { Pragma: 'no-cache', 'Cache-Control': 'no-cache' } : {}),
    'sec-ch-ua-platform': '"Linux"',
    'User-Agent': USER_AGENT,
    'sec-ch-ua': '"Not:A-Brand";v="8", "Chromium";v="131"',
    'sec-ch-ua-mobile': '?0',
    Accept: '*/*',
    ...(kind === 'post' ? { Origin: origin } : {}),
    'Sec-Fetch-Site': 'same-origin',
    'Sec-Fetch-Mode': 'cors',
    'Sec-Fetch-Dest': 'empty',
    Referer: `${origin}/`,
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9',
  };
}

class WebSocketSim implements SimClient {
  readonly transport = 'websocket' as const;
  readonly opened: Promise<number>;
  private readonly ws: WebSocket;

  constructor(options: SimClientOptions) {
    const start = now();
    const url = new URL(options.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('transport', 'websocket');
    const origin = new URL(options.url).origin;
    this.ws = new WebSocket(url.toString(), [], options.headers === 'minimal' ? {} : { headers: browserHeaders(origin, 'upgrade') });
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener('open', () => resolve(now() - start), { once: true });
      this.ws.addEventListener('close', () => reject(new Error('closed before open')), { once: true });
    });
    this.opened.catch(() => {});
    this.ws.addEventListener('message', (event) => {
      const data = (event as MessageEvent).data;
      if (typeof data === 'string') options.onMessage(data);
    });
    this.ws.addEventListener('close', (event) => options.onClose?.(`closed ${(event as unknown as { code: number }).code}`));
  }

  send(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** One HTTP request, body in, body out. */
function request(
  agent: http.Agent,
  url: string,
  method: 'GET' | 'POST',
  extra: Record<string, string>,
  body?: Uint8Array,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      agent,
      headers: body === undefined ? extra : { 'Content-Length': String(body.length), 'Content-Type': 'application/octet-stream', ...extra },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

class HttpSim implements SimClient {
  readonly transport: Exclude<LabTransport, 'websocket'>;
  readonly opened: Promise<number>;
  private readonly options: SimClientOptions;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
  private readonly base: URL;
  private handshake: Handshake | null = null;
  /** Highest sequence number received: the ack of the next request. */
  private received = 0;
  /** Next upstream sequence number. */
  private upSeq = 1;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private stream: http.ClientRequest | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private sending: Promise<unknown> = Promise.resolve();
  private resolveOpen!: (ms: number) => void;
  private rejectOpen!: (error: Error) => void;
  private readonly start = now();
  private readonly getHeaders: Record<string, string>;
  private readonly postHeaders: Record<string, string>;

  constructor(options: SimClientOptions) {
    this.options = options;
    const origin = new URL(options.url).origin;
    const browser = options.headers !== 'minimal';
    this.getHeaders = browser ? browserHeaders(origin, 'get') : {};
    this.postHeaders = browser ? browserHeaders(origin, 'post') : {};
    this.transport = options.transport as Exclude<LabTransport, 'websocket'>;
    this.base = new URL(options.url);
    this.base.searchParams.set('transport', this.transport);
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpen = resolve;
      this.rejectOpen = reject;
    });
    this.opened.catch(() => {});
    // A session that never opens fails instead of hanging whoever waits for it.
    const timer = setTimeout(() => this.fail('did not open within 10 s'), 10_000);
    this.opened.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    if (this.transport === 'sse') this.openStream();
    else void this.poll();
  }

  private url(extra: Record<string, string | number>): string {
    const url = new URL(this.base);
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, String(v));
    return url.toString();
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.rejectOpen(new Error(reason));
    this.close();
    this.options.onClose?.(reason);
  }

  /** Takes a batch: the handshake if any, then each message not yet received. */
  private take(body: Buffer): boolean {
    const batch = decodeBatch(body, { allowOpen: true });
    let seq = batch.firstSeq;
    for (const packet of batch.packets) {
      if (packet.kind === 'o') {
        this.handshake = packet.handshake;
        this.resolveOpen(now() - this.start);
        continue;
      }
      if (seq > this.received) {
        this.received = seq;
        if (packet.kind === 't') this.options.onMessage(decoder.decode(packet.data));
        else if (packet.kind === 'c') {
          this.fail(`closed ${packet.code}`);
          return false;
        }
      }
      seq++;
    }
    return true;
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    const sid = this.handshake?.sid;
    const url = sid === undefined ? this.url({}) : this.url({ sid, ack: this.received });
    const sentAt = now();
    let answer;
    try {
      answer = await request(this.agent, url, 'GET', this.getHeaders);
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    if (this.closed) return;
    if (answer.status !== 200) {
      this.fail(`HTTP ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
      return;
    }
    try {
      if (!this.take(answer.body)) return;
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    const interval = this.handshake?.interval ?? 1000;
    // Real clients arrive at random moments, so their polls are spread over the interval;
    // simulated ones that all connected in the same second would poll in step and see the
    // same latency for every message. A random first pause restores the spread.
    const phase = sid === undefined ? Math.random() * interval : interval;
    if (this.transport === 'long-polling') {
      void this.poll();
    } else if (this.transport === 'polling') {
      // Short polling: a pause after each answer.
      this.timer = setTimeout(() => void this.poll(), phase);
    } else if (sid === undefined) {
      // Fixed-interval polling: a clock that does not wait for answers.
      this.startClock(sentAt + phase - interval, interval);
    }
  }

  private startClock(from: number, interval: number): void {
    let n = 1;
    const tick = () => {
      if (this.closed) return;
      void this.poll();
      n++;
      this.timer = setTimeout(tick, Math.max(0, from + n * interval - now()));
    };
    this.timer = setTimeout(tick, Math.max(0, from + interval - now()));
  }

  private openStream(): void {
    const parser = new SseParser();
    const req = http.request(this.url({}), { method: 'GET', agent: this.agent, headers: { ...this.getHeaders, Accept: 'text/event-stream' } });
    this.stream = req;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.fail(`HTTP ${res.statusCode}`);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (this.closed) return;
        try {
          for (const event of parser.push(chunk)) {
            // The session handshake event ('session'; 'open' in earlier servers).
            if (event.type === 'session' || event.type === 'open') {
              this.handshake = decodeHandshake(event.data);
              this.resolveOpen(now() - this.start);
              continue;
            }
            const seq = Number(event.lastEventId);
            if (!(seq > this.received)) continue;
            this.received = seq;
            const packet = decodeSseData(event.data);
            if (packet.kind === 't') this.options.onMessage(decoder.decode(packet.data));
            else if (packet.kind === 'c') {
              this.fail(`closed ${packet.code}`);
              return;
            }
            this.scheduleAck();
          }
        } catch (error) {
          this.fail((error as Error).message);
        }
      });
      res.on('end', () => this.fail('stream ended'));
      res.on('error', () => this.fail('stream failed'));
    });
    req.on('error', (error) => this.fail(error.message));
    req.end();
  }

  /** SSE: acknowledge what arrived, at most once per `ackDelay`, as the browser client does. */
  private scheduleAck(): void {
    if (this.ackTimer !== null) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.post(encoder.encode(`${this.upSeq};`));
    }, this.handshake?.ackDelay ?? 1000);
  }

  private post(body: Uint8Array): void {
    const sid = this.handshake?.sid;
    if (sid === undefined || this.closed) return;
    // Upstream batches go one at a time, in order.
    this.sending = this.sending.then(async () => {
      if (this.closed) return;
      try {
        const answer = await request(this.agent, this.url({ sid, ack: this.received }), 'POST', this.postHeaders, body);
        if (answer.status !== 204) this.fail(`HTTP ${answer.status} on POST`);
      } catch (error) {
        this.fail((error as Error).message);
      }
    });
  }

  send(text: string): void {
    const data = encoder.encode(text);
    const seq = this.upSeq++;
    this.post(concatBytes(encoder.encode(`${seq};t${data.length}:`), data));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.stream?.destroy();
    this.agent.destroy();
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
