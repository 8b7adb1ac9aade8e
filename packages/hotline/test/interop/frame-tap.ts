/**
 * A TCP proxy that records the WebSocket frames crossing it, both ways, without changing
 * a byte: the HTTP heads of the opening handshake, then every frame header (FIN, RSV1-3,
 * opcode, mask bit, payload length). With it a test sees on the wire what neither peer's
 * API reports: whether a message went out compressed (RSV1, RFC 7692 §6), on which frame
 * of it, and how many bytes it took.
 *
 * The frame reader is written here, independently of `src/`, so that what Hotline
 * sends is not checked by Hotline's own parser.
 */
import net from 'node:net';

export interface TappedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** Payload length as the header says. */
  length: number;
  /** Header and payload. */
  wireBytes: number;
}

/** A data message as it crossed the wire: its frames, first to last. */
export interface TappedMessage {
  opcode: number;
  /** RSV1 on the first frame: the message is compressed (RFC 7692 §6). */
  compressed: boolean;
  frames: TappedFrame[];
  /** Payload bytes on the wire (compressed size when compressed). */
  payloadBytes: number;
}

/** One direction of one connection. */
export class TappedStream {
  head = '';
  readonly frames: TappedFrame[] = [];
  bytes = 0;
  private headDone = false;
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;

  /** @internal */
  feed(chunk: Buffer): void {
    this.bytes += chunk.length;
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    if (!this.headDone) {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        this.pending = Buffer.from(data);
        return;
      }
      this.head = data.subarray(0, end).toString('latin1');
      this.headDone = true;
      data = data.subarray(end + 4);
    }
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      const header = readHeader(data);
      if (header === null) {
        this.pending = Buffer.from(data);
        return;
      }
      this.frames.push(header.frame);
      data = data.subarray(header.size);
      this.skip = header.frame.length;
    }
  }

  /** Data messages (control frames left out), grouped from their frames. */
  messages(): TappedMessage[] {
    const out: TappedMessage[] = [];
    let current: TappedMessage | null = null;
    for (const frame of this.frames) {
      if (frame.opcode >= 0x8) continue;
      if (frame.opcode !== 0x0) {
        current = { opcode: frame.opcode, compressed: frame.rsv1, frames: [], payloadBytes: 0 };
        out.push(current);
      }
      if (current === null) continue;
      current.frames.push(frame);
      current.payloadBytes += frame.length;
      if (frame.fin) current = null;
    }
    return out;
  }

  /** The handshake header `name` (lower case), or undefined. */
  header(name: string): string | undefined {
    for (const line of this.head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
    }
    return undefined;
  }
}

function readHeader(data: Buffer): { frame: TappedFrame; size: number } | null {
  if (data.length < 2) return null;
  const b0 = data[0]!;
  const b1 = data[1]!;
  let size = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    size = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(data.readBigUInt64BE(2));
    size = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) size += 4;
  if (data.length < size) return null;
  return {
    frame: {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      length,
      wireBytes: size + length,
    },
    size,
  };
}

export interface TappedConnection {
  /** Client to server: the request head, then masked frames. */
  readonly toServer: TappedStream;
  /** Server to client: the response head, then frames. */
  readonly toClient: TappedStream;
}

export class FrameTap {
  readonly connections: TappedConnection[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 and an ephemeral port; forwards every connection to `target`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<FrameTap> {
    let tap!: FrameTap;
    const server = net.createServer((client) => {
      const upstream = net.connect({ port: targetPort, host: targetHost });
      const tapped: TappedConnection = { toServer: new TappedStream(), toClient: new TappedStream() };
      tap.connections.push(tapped);
      for (const socket of [client, upstream]) {
        socket.setNoDelay(true);
        tap.sockets.add(socket);
        socket.on('close', () => tap.sockets.delete(socket));
      }
      client.on('data', (chunk: Buffer) => {
        tapped.toServer.feed(chunk);
        if (!upstream.write(chunk)) client.pause();
      });
      upstream.on('drain', () => client.resume());
      upstream.on('data', (chunk: Buffer) => {
        tapped.toClient.feed(chunk);
        if (!client.write(chunk)) upstream.pause();
      });
      client.on('drain', () => upstream.resume());
      // Half-closes pass through, so that the closing handshake is seen end to end.
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    tap = new FrameTap(server, (server.address() as net.AddressInfo).port);
    return tap;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
