/**
 * A raw TCP peer for tests that must send bytes no well-behaved implementation would:
 * hand-written HTTP requests and hand-built frames (masked or not, lying lengths, reserved
 * bits). It reads what the other side answers, frame by frame, with a deadline on every
 * wait, and records who closed TCP first.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { type RawFrame, frame } from './bytes.js';

/** The fixed masking key of every frame built here (RFC 6455 §5.3: any key will do). */
export const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** A client frame, masked with MASK unless `mask: null` is given. */
export function clientFrame(spec: RawFrame): Buffer {
  return frame({ mask: MASK, ...spec });
}

/** A Close frame payload: code (2 bytes) + reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
}

export interface ReadFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export interface ResponseHead {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  raw: string;
}

export class RawPeer {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private length = 0;
  private wake: (() => void) | null = null;
  /** The other side sent FIN. */
  ended = false;
  endedAt = 0;
  /** We sent FIN. */
  finSent = false;
  closed = false;
  closedAt = 0;
  error: Error | null = null;
  /** Bytes received in total. */
  received = 0;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.received += chunk.length;
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.endedAt = Date.now();
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.notify();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
  }

  static connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and completes an opening handshake; fails if the answer is not a valid 101. */
  static async open(port: number, path = '/', headers: Record<string, string> = {}, options: { allowHalfOpen?: boolean } = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(port, options);
    const key = randomBytes(16).toString('base64');
    peer.write(upgradeRequest(path, key, headers));
    const head = await peer.readHead();
    if (head.status !== 101) throw new Error(`expected 101, got ${head.status}: ${head.raw}`);
    if (head.headers['sec-websocket-accept'] !== acceptFor(key)) throw new Error('bad Sec-WebSocket-Accept');
    return peer;
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Sends a client frame (masked unless the spec says `mask: null`). */
  send(spec: RawFrame): void {
    this.write(clientFrame(spec));
  }

  /** Half-closes (sends FIN). */
  end(): void {
    this.finSent = true;
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private waitForData(deadline: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ms = deadline - Date.now();
      if (ms <= 0) {
        reject(new Error(`timed out waiting for ${what} (have ${this.length} bytes)`));
        return;
      }
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new Error(`timed out waiting for ${what} (have ${this.length} bytes)`));
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private consume(n: number): Buffer {
    const all = this.bytes();
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Reads an HTTP response head (status line and headers), leaving what follows. */
  async readHead(ms = 2000): Promise<ResponseHead> {
    const deadline = Date.now() + ms;
    for (;;) {
      const all = this.bytes();
      const end = all.indexOf('\r\n\r\n');
      if (end !== -1) {
        const raw = this.consume(end + 4).toString('latin1');
        return parseHead(raw);
      }
      if (this.closed || this.ended) throw new Error(`connection closed before a response head: ${JSON.stringify(all.toString('latin1'))}`);
      await this.waitForData(deadline, 'an HTTP response head');
    }
  }

  /** Reads exactly `n` bytes. */
  async readBytes(n: number, ms = 2000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.length < n) {
      if (this.closed || this.ended) throw new Error(`connection closed with ${this.length} of ${n} bytes`);
      await this.waitForData(deadline, `${n} bytes`);
    }
    return Buffer.from(this.consume(n));
  }

  /** Reads the next frame (server frames are unmasked; a masked one is reported as such). */
  async readFrame(ms = 2000): Promise<ReadFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = tryParseFrame(this.bytes());
      if (parsed !== null) {
        this.consume(parsed.size);
        return parsed.frame;
      }
      if (this.closed || this.ended) throw new Error(`connection closed before a complete frame (${this.length} bytes left)`);
      await this.waitForData(deadline, 'a frame');
    }
  }

  /** Reads frames until a Close frame; returns its code (1005 when empty) and reason, and what came before. */
  async readClose(ms = 2000): Promise<{ code: number; reason: string; before: ReadFrame[] }> {
    const deadline = Date.now() + ms;
    const before: ReadFrame[] = [];
    for (;;) {
      const next = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (next.opcode === 0x8) {
        const code = next.payload.length >= 2 ? next.payload.readUInt16BE(0) : 1005;
        return { code, reason: next.payload.subarray(2).toString('utf8'), before };
      }
      before.push(next);
    }
  }

  /** Resolves when the other side has sent FIN (or the socket closed). */
  async waitEnd(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended && !this.closed) await this.waitForData(deadline, 'the end of the stream');
  }

  /** Resolves when the TCP connection is fully closed. */
  async waitClosed(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) await this.waitForData(deadline, 'the connection to close');
  }

  /** Everything received and not yet read, as text (for HTTP bodies). */
  rest(): string {
    return this.bytes().toString('utf8');
  }
}

export function upgradeRequest(path: string, key: string, headers: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let text = `GET ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(all)) if (value !== '') text += `${name}: ${value}\r\n`;
  return text + '\r\n';
}

function parseHead(raw: string): ResponseHead {
  const lines = raw.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (match === null) throw new Error(`not an HTTP response: ${JSON.stringify(raw)}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(match[1]), headers, raw };
}

function tryParseFrame(data: Buffer): { frame: ReadFrame; size: number } | null {
  if (data.length < 2) return null;
  const b0 = data[0]!;
  const b1 = data[1]!;
  let at = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(data.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let mask: Buffer | null = null;
  if (masked) {
    if (data.length < at + 4) return null;
    mask = data.subarray(at, at + 4);
    at += 4;
  }
  if (data.length < at + length) return null;
  const payload = Buffer.from(data.subarray(at, at + length));
  if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, masked, payload },
    size: at + length,
  };
}

/**
 * Sends a raw HTTP request and reads the response head; `body` is what followed it before
 * the server closed (or `ms` passed).
 */
export async function rawRequest(port: number, request: string | Buffer, ms = 2000): Promise<{ head: ResponseHead; body: string; peer: RawPeer }> {
  const peer = await RawPeer.connect(port);
  peer.write(request);
  const head = await peer.readHead(ms);
  const length = Number(head.headers['content-length'] ?? 0);
  let body = '';
  if (length > 0) body = (await peer.readBytes(length, ms)).toString('utf8');
  return { head, body, peer };
}
