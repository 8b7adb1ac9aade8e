// A minimal WebSocket client over `net`, light enough for thousands per process: the
// opening handshake, masked frames out, unmasked frames in (text, binary, fragments,
// ping, close), and nothing else — no extensions, no subprotocols, no UTF-8 check (the
// soak only sends ASCII). Anything the server does wrong is reported, not tolerated.
//
// The socket's listeners are module-level functions; the connection hangs off the
// socket. A connection's behaviour is a shared object per kind of client:
//   { open(ws), message(ws, text, isBinary), close(ws, end) }
// where `end` is { code, reason, cause, detail } and cause is one of
//   'clean'     we sent a Close and the server answered it
//   'server'    the server sent a Close first (we answered it)
//   'abnormal'  TCP ended without a closing handshake (code 1006)
//   'handshake' no 101 (a status, a timeout, a reset)
//   'protocol'  the server broke RFC 6455 (we dropped the connection)
import net from 'node:net';
import { randomFillSync } from 'node:crypto';

// RFC 6455 §1.3's sample key and its Sec-WebSocket-Accept (§4.2.2). A fixed key is
// enough: the server checks its form, and the accept proves the server computed it.
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

export const State = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };

// ms allowed for the 101, and for the server's part of a closing handshake (it may be
// behind megabytes a stalled reader never read).
const HANDSHAKE_TIMEOUT = 15_000;
const CLOSE_TIMEOUT = 20_000;
const MAX_HEAD = 8 * 1024;

const kConn = Symbol('soak.ws');

export class RawWebSocket {
  state = State.CONNECTING;
  /** Bytes of an incomplete head or frame, kept for the next read. */
  buffer = null;
  fragments = null;
  fragmentOpcode = 0;
  closeSent = false;
  closeReceived = false;
  paused = false;
  deadline;
  end = null;
  errorCode = '';

  /**
   * @param behavior the kind's hooks
   * @param data the behaviour's own per-connection state
   */
  constructor(port, path, behavior, data) {
    this.behavior = behavior;
    this.data = data;
    this.path = path;
    this.port = port;
    this.deadline = Date.now() + HANDSHAKE_TIMEOUT;
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket[kConn] = this;
    socket.on('connect', onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    this.socket = socket;
  }

  sendText(text) {
    if (this.state !== State.OPEN) return false;
    this.socket.write(frame(0x1, text));
    return true;
  }

  /** Starts the closing handshake (RFC 6455 §7.1.2). */
  close(code = 1000) {
    if (this.state !== State.OPEN) {
      if (this.state === State.CONNECTING) this.terminate();
      return;
    }
    this.state = State.CLOSING;
    this.closeSent = true;
    this.deadline = Date.now() + CLOSE_TIMEOUT;
    // A closing socket must read the server's Close.
    this.resume();
    this.socket.write(frame(0x8, closePayload(code)));
  }

  /** Drops TCP at once, no closing handshake (what a crashed or unplugged client does). */
  terminate() {
    this.socket.destroy();
  }

  /** Stops reading: the kernel buffers fill, then the server's (a slow reader). */
  pause() {
    if (this.paused || this.state === State.CLOSED) return;
    this.paused = true;
    this.socket.pause();
  }

  resume() {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Called by the owner's clock: a handshake or a close that takes too long is dropped. */
  expire(now) {
    if (now < this.deadline || this.state === State.OPEN || this.state === State.CLOSED) return;
    this.errorCode = this.state === State.CONNECTING ? 'handshake timeout' : 'close timeout';
    this.socket.destroy();
  }

  fail(cause, detail) {
    if (this.end === null) this.end = { code: 1006, reason: '', cause, detail };
    this.socket.destroy();
  }

  /** The request head is read: the frames follow it. */
  opened() {
    this.state = State.OPEN;
    this.deadline = Infinity;
    this.behavior.open(this);
  }

  /** One complete frame from the server (RFC 6455 §5.2). */
  receiveFrame(b0, payload) {
    // §5.2: RSV bits without a negotiated extension fail the connection.
    if ((b0 & 0x70) !== 0) return this.fail('protocol', 'RSV bits set');
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (this.fragments !== null) return this.fail('protocol', 'new message inside a fragmented one');
        if (fin) return this.deliver(opcode, payload);
        this.fragments = [Buffer.from(payload)];
        this.fragmentOpcode = opcode;
        return;
      case 0x0: {
        if (this.fragments === null) return this.fail('protocol', 'continuation without a message');
        this.fragments.push(Buffer.from(payload));
        if (!fin) return;
        const whole = Buffer.concat(this.fragments);
        this.fragments = null;
        return this.deliver(this.fragmentOpcode, whole);
      }
      case 0x8: {
        if (!fin || payload.length > 125) return this.fail('protocol', 'bad control frame');
        if (payload.length === 1) return this.fail('protocol', 'one-byte close payload');
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.toString('utf8', 2);
        this.closeReceived = true;
        if (this.closeSent) {
          this.end = { code, reason, cause: 'clean', detail: '' };
        } else {
          // §5.5.1: answer with a Close (echoing the code), then the server closes TCP.
          this.end = { code, reason, cause: 'server', detail: '' };
          this.closeSent = true;
          this.resume();
          this.socket.write(frame(0x8, code === 1005 ? Buffer.alloc(0) : closePayload(code)));
        }
        this.state = State.CLOSING;
        this.deadline = Date.now() + CLOSE_TIMEOUT;
        return;
      }
      case 0x9:
        if (!fin || payload.length > 125) return this.fail('protocol', 'bad control frame');
        // §5.5.2: a Pong with the Ping's payload.
        if (this.state === State.OPEN) this.socket.write(frame(0xa, Buffer.from(payload)));
        return;
      case 0xa:
        return;
      default:
        return this.fail('protocol', `reserved opcode ${opcode}`);
    }
  }

  deliver(opcode, payload) {
    if (this.state !== State.OPEN) return;
    this.behavior.message(this, payload, opcode === 0x2);
  }
}

function onConnect() {
  const ws = this[kConn];
  this.write(
    `GET ${ws.path} HTTP/1.1\r\nHost: 127.0.0.1:${ws.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}

function onData(chunk) {
  const ws = this[kConn];
  let buf = ws.buffer === null ? chunk : Buffer.concat([ws.buffer, chunk]);
  ws.buffer = null;
  let at = 0;
  if (ws.state === State.CONNECTING) {
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) {
      if (buf.length > MAX_HEAD) ws.fail('handshake', 'response head too large');
      else ws.buffer = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const status = head.slice(0, head.indexOf('\r\n'));
    if (!status.startsWith('HTTP/1.1 101 ')) return ws.fail('handshake', status);
    // §4.1: the client MUST fail the connection unless the accept matches the key.
    if (acceptOf(head) !== ACCEPT) return ws.fail('handshake', 'wrong Sec-WebSocket-Accept');
    at = end + 4;
    ws.opened();
  }
  while (buf.length - at >= 2 && ws.end?.cause !== 'protocol') {
    const b1 = buf[at + 1];
    // RFC 6455 §5.1: a server MUST NOT mask its frames.
    if ((b1 & 0x80) !== 0) return ws.fail('protocol', 'masked server frame');
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buf.length - at < 4) break;
      length = buf.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (buf.length - at < 10) break;
      length = buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6);
      header = 10;
    }
    if (buf.length - at < header + length) break;
    const b0 = buf[at];
    const payload = buf.subarray(at + header, at + header + length);
    at += header + length;
    ws.receiveFrame(b0, payload);
    if (ws.state === State.CLOSED) return;
  }
  // A copy of a short rest, so that it does not pin the whole read.
  if (at < buf.length) ws.buffer = at === 0 ? buf : Buffer.from(buf.subarray(at));
}

function onError(error) {
  this[kConn].errorCode = error.code ?? error.message;
}

function onClose() {
  const ws = this[kConn];
  const wasConnecting = ws.state === State.CONNECTING;
  ws.state = State.CLOSED;
  ws.buffer = null;
  ws.fragments = null;
  // `end` is set by a Close received or by `fail`; otherwise TCP just ended (§7.1.5: 1006).
  ws.end ??= { code: 1006, reason: '', cause: wasConnecting ? 'handshake' : 'abnormal', detail: ws.errorCode || 'connection ended' };
  ws.behavior.close(ws, ws.end);
}

function acceptOf(head) {
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'sec-websocket-accept') return line.slice(colon + 1).trim();
  }
  return '';
}

function closePayload(code) {
  const payload = Buffer.allocUnsafe(2);
  payload.writeUInt16BE(code, 0);
  return payload;
}

const maskPool = Buffer.alloc(4096);
let maskAt = maskPool.length;

/** A client frame (RFC 6455 §5.2): FIN, the opcode, a fresh masking key (§5.3), the masked payload. */
function frame(opcode, payload) {
  // Strings are ASCII here: one byte per character.
  const text = typeof payload === 'string';
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(header + 4 + length);
  out[0] = 0x80 | opcode;
  if (header === 2) out[1] = 0x80 | length;
  else if (header === 4) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
  if (maskAt === maskPool.length) {
    randomFillSync(maskPool);
    maskAt = 0;
  }
  maskPool.copy(out, header, maskAt, maskAt + 4);
  maskAt += 4;
  const start = header + 4;
  if (text) out.write(payload, start, 'latin1');
  else payload.copy(out, start);
  for (let i = 0; i < length; i++) out[start + i] ^= out[header + (i & 3)];
  return out;
}
