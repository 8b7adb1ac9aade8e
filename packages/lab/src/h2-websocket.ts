import { randomFillSync } from 'node:crypto';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { WebSocketLike } from 'hotline/client/drivers';

/**
 * The simulated clients' WebSocket over HTTP/2 (RFC 8441), as a browser opens one on the
 * h2 connection it already has to the origin: an extended CONNECT stream
 * (`:method CONNECT`, `:protocol websocket`), answered 200, whose DATA frames then carry
 * RFC 6455 frames both ways. Text only, no extensions: what the lab's stream needs.
 *
 * Hotline's own `WebSocket` class opens its own TCP connection; a WebSocket over a
 * stream of a shared session is the browser's way, so the simulation does it here.
 */
export interface H2WebSocketOptions {
  session: ClientHttp2Session;
  /** Extra request fields (a browser's: origin, user-agent...), lower-case names. */
  headers: Record<string, string>;
}

const OPCODE = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;
const decoder = new TextDecoder();

export class H2WebSocket implements WebSocketLike {
  binaryType = 'arraybuffer';
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  private stream: ClientHttp2Stream | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private firstOpcode: number | null = null;
  private closeSent = false;
  private closeReceived: { code: number; reason: string } | null = null;
  private ended = false;

  constructor(url: string, _protocols: string | string[] | undefined, options: H2WebSocketOptions) {
    const target = new URL(url);
    const { session } = options;
    const open = () => {
      if (this.ended) return;
      // RFC 8441 §4: the extended CONNECT; :scheme and :path as for any request, and the
      // RFC 6455 fields that remain (Sec-WebSocket-Version; no Key, Accept or Upgrade).
      const stream = session.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':scheme': 'https',
          ':authority': target.host,
          ':path': target.pathname + target.search,
          'sec-websocket-version': '13',
          ...options.headers,
        },
        { endStream: false },
      );
      this.stream = stream;
      stream.on('response', (headers) => {
        if (headers[':status'] !== 200) return this.finish(1006, `extended CONNECT answered ${String(headers[':status'])}`, false);
        this.readyState = 1;
        this.onopen?.({});
      });
      stream.on('data', (chunk: Buffer) => this.receive(chunk));
      stream.on('error', () => this.finish(1006, '', false));
      stream.on('close', () => this.finish(this.closeReceived?.code ?? 1006, this.closeReceived?.reason ?? '', this.closeReceived !== null));
    };
    // RFC 8441 §3: the client may not send an extended CONNECT before the server's
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (node refuses to, too).
    const settings = session.remoteSettings as { enableConnectProtocol?: boolean } | undefined;
    if (settings?.enableConnectProtocol === true) queueMicrotask(open);
    else session.once('remoteSettings', open);
  }

  get bufferedAmount(): number {
    return this.stream?.writableLength ?? 0;
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== 1) return;
    const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data instanceof ArrayBuffer ? data : data.buffer);
    this.write(typeof data === 'string' ? OPCODE.TEXT : OPCODE.BINARY, payload);
  }

  close(code = 1000, reason = ''): void {
    if (this.ended || this.closeSent) return;
    if (this.readyState !== 1) {
      this.stream?.close();
      return this.finish(1006, '', false);
    }
    this.readyState = 2;
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    this.sendClose(payload);
  }

  private sendClose(payload: Buffer): void {
    this.closeSent = true;
    this.write(OPCODE.CLOSE, payload);
    // RFC 8441 §6: END_STREAM stands for the TCP FIN once the closing handshake is sent.
    this.stream?.end();
  }

  /** RFC 6455 §5.2, §5.3: one final frame, masked (a client's always are). */
  private write(opcode: number, payload: Buffer): void {
    const length = payload.length;
    const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(head + 4 + length);
    frame[0] = 0x80 | opcode;
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = frame.subarray(head, head + 4);
    randomFillSync(mask);
    for (let i = 0; i < length; i++) frame[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
    this.stream?.write(frame);
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      // A server's frames are never masked (RFC 6455 §5.1); the mask bit is not honoured here.
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this.buffered = b.subarray(offset + length);
      this.frame(fin, opcode, payload);
    }
  }

  private frame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OPCODE.PING:
        return this.write(OPCODE.PONG, Buffer.from(payload));
      case OPCODE.PONG:
        return;
      case OPCODE.CLOSE: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReceived = { code, reason: payload.length > 2 ? decoder.decode(payload.subarray(2)) : '' };
        this.readyState = 2;
        if (!this.closeSent) this.sendClose(Buffer.from(payload.subarray(0, 2)));
        return;
      }
      default: {
        // RFC 6455 §5.4: a message's type is its first frame's; continuations carry 0.
        if (opcode !== OPCODE.CONTINUATION) this.firstOpcode = opcode;
        this.fragments.push(Buffer.from(payload));
        if (!fin) return;
        const whole = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
        const first = this.firstOpcode;
        this.fragments = [];
        this.firstOpcode = null;
        this.onmessage?.({ data: first === OPCODE.BINARY ? new Uint8Array(whole).buffer : decoder.decode(whole) });
        return;
      }
    }
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.readyState = 3;
    if (!this.stream?.destroyed) this.stream?.close();
    this.onclose?.({ code, reason, wasClean });
  }
}
