import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { once } from 'node:events';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Server } from '../../src/server/server.js';
import { UpgradeRejection, type Peer } from '../../src/types.js';
import { WebSocket } from '../../src/client/websocket.js';
import { type DecodedFrame, decodeFrames } from '../support/bytes.js';
import { clientFrame, closePayload } from '../support/raw.js';
import { cert, key } from '../support/tls.js';
import { SharedDirectory } from '../support/shared-directory.js';
import { enableHttpTransports } from '../../src/transports/http-transports.js';

/**
 * WebSocket over HTTP/2 (RFC 8441), server side, with node:http2's client sending the
 * extended CONNECT and the frames written by hand: the stream carries exactly the bytes of
 * RFC 6455, masked by the client, and the answers are HTTP/2 statuses.
 */

const { NGHTTP2_CANCEL } = http2.constants;

/** One extended CONNECT, and the frames that come back on its stream. */
class StreamPeer {
  private buffered = Buffer.alloc(0);
  readonly frames: DecodedFrame[] = [];
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(
    readonly stream: ClientHttp2Stream,
    readonly response: IncomingHttpHeaders,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      // Frames are taken whole: a partial one waits for the rest.
      for (;;) {
        const whole = wholeFrameLength(this.buffered);
        if (whole === 0) break;
        this.frames.push(...decodeFrames(this.buffered.subarray(0, whole)));
        this.buffered = this.buffered.subarray(whole);
      }
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  get status(): number {
    return Number(this.response[':status']);
  }

  send(opcode: number, payload: Buffer | string, options: { fin?: boolean; rsv1?: boolean } = {}): void {
    this.stream.write(clientFrame({ opcode, payload, ...options }));
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  async until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async frame(index: number): Promise<DecodedFrame> {
    await this.until(() => this.frames.length > index, `frame ${index}`);
    return this.frames[index]!;
  }
}

function wholeFrameLength(data: Buffer): number {
  if (data.length < 2) return 0;
  let length = data[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (data.length < 4) return 0;
    length = data.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (data.length < 10) return 0;
    length = Number(data.readBigUInt64BE(2));
    at = 10;
  }
  if (data[1]! & 0x80) at += 4;
  return data.length >= at + length ? at + length : 0;
}

async function connectSession(port: number): Promise<ClientHttp2Session> {
  const session = http2.connect(`https://localhost:${port}`, { ca: cert });
  await once(session, 'remoteSettings');
  return session;
}

async function openStream(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<StreamPeer> {
  const stream = session.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path, ':authority': 'localhost', 'sec-websocket-version': '13', ...headers },
    { endStream: false },
  );
  const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  return new StreamPeer(stream, response);
}

async function get(session: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  const stream = session.request({ ':path': path });
  const [response] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (body += chunk));
  await once(stream, 'end');
  return { status: Number(response[':status']), body };
}

describe('WebSocket over HTTP/2 (RFC 8441)', () => {
  let server: Server;
  let port = 0;
  let session: ClientHttp2Session;
  const closes: Array<{ code: number; transport: string }> = [];
  const versions: string[] = [];
  /** "tag code" for each closed peer that connected with `?tag=`. */
  const tagged: string[] = [];

  before(async () => {
    server = new Server({ closeTimeout: 300, perMessageDeflate: true });
    server.route('/echo', {
      upgrade(request) {
        versions.push(request.httpVersion ?? '?');
        if (request.query.get('deny') !== null) throw new UpgradeRejection(403, 'not you', { 'X-Why': 'test' });
        if (request.protocols.includes('chat.v2')) return { protocol: 'chat.v2' };
        return { data: request.query.get('tag') ?? '' };
      },
      message(peer: Peer, data: Buffer, isBinary: boolean) {
        const text = isBinary ? '' : data.toString();
        if (text === 'bye') peer.close(4001, 'server bye');
        else peer.send(data, isBinary);
      },
      close(peer: Peer, code: number) {
        closes.push({ code, transport: 'websocket' });
        if (peer.data !== '' && peer.data !== undefined) tagged.push(`${String(peer.data)} ${code}`);
      },
    });
    const address = await server.listen({
      port: 0,
      host: '127.0.0.1',
      tls: { key, cert },
      fallback: (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('page');
      },
    });
    port = address.port;
    session = await connectSession(port);
  });

  after(async () => {
    session?.close();
    await server?.close({ timeout: 200 });
  });

  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and offers h2 by ALPN', () => {
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    assert.equal(session.alpnProtocol, 'h2');
  });

  it('answers 200 without Sec-WebSocket-Accept and echoes text, binary, fragmented and 1 MiB messages', async () => {
    const peer = await openStream(session, '/echo');
    assert.equal(peer.status, 200);
    assert.equal(peer.response['sec-websocket-accept'], undefined);
    assert.equal(versions.at(-1), '2.0');
    peer.send(0x1, 'héllo');
    peer.send(0x2, Buffer.from([0, 1, 2, 255]));
    peer.send(0x1, 'frag', { fin: false });
    peer.send(0x0, 'mented');
    const big = Buffer.alloc(1024 * 1024, 7);
    peer.send(0x2, big);
    assert.equal((await peer.frame(0)).payload.toString(), 'héllo');
    assert.deepEqual([...(await peer.frame(1)).payload], [0, 1, 2, 255]);
    assert.equal((await peer.frame(2)).payload.toString(), 'fragmented');
    const echoed = await peer.frame(3);
    assert.equal(echoed.opcode, 0x2);
    assert.ok(echoed.payload.equals(big));
    // Frames from the server are unmasked (RFC 6455 §5.1), over HTTP/2 as over TCP.
    assert.ok(peer.frames.every((frame) => frame.mask === null));
    peer.send(0x8, closePayload(1000, 'done'));
    const close = await peer.frame(4);
    assert.equal(close.opcode, 0x8);
    assert.equal(close.payload.readUInt16BE(0), 1000);
    // RFC 8441 §6: the end of the stream stands for the TCP FIN.
    await peer.until(() => peer.ended, 'END_STREAM');
    peer.stream.end();
    await peer.until(() => closes.some((c) => c.code === 1000), 'the close hook');
  });

  it('closes from the server side: Close frame, then END_STREAM', async () => {
    const peer = await openStream(session, '/echo');
    peer.send(0x1, 'bye');
    const close = await peer.frame(0);
    assert.equal(close.payload.readUInt16BE(0), 4001);
    assert.equal(close.payload.subarray(2).toString(), 'server bye');
    peer.send(0x8, closePayload(4001));
    await peer.until(() => peer.ended, 'END_STREAM');
    peer.stream.end();
  });

  it('negotiates a subprotocol and permessage-deflate as over HTTP/1.1', async () => {
    const peer = await openStream(session, '/echo', { 'sec-websocket-protocol': 'chat.v1, chat.v2', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    assert.equal(peer.status, 200);
    assert.equal(peer.response['sec-websocket-protocol'], 'chat.v2');
    assert.match(String(peer.response['sec-websocket-extensions']), /^permessage-deflate/);
    const text = 'compressible '.repeat(100);
    // RFC 7692 §7.2.1: the tail 00 00 ff ff of a sync flush is removed.
    const compressed = deflateRawSync(text, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).subarray(0, -4);
    peer.send(0x1, compressed, { rsv1: true });
    const echoed = await peer.frame(0);
    const payload = echoed.rsv1 ? inflateRawSync(Buffer.concat([echoed.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: 2 }) : echoed.payload;
    assert.equal(payload.toString(), text);
    peer.stream.close(NGHTTP2_CANCEL);
  });

  it('carries WebSockets and requests side by side on one connection', async () => {
    const [a, b] = await Promise.all([openStream(session, '/echo'), openStream(session, '/echo')]);
    const page = get(session, '/');
    for (let i = 0; i < 20; i++) {
      a.send(0x1, `a${i}`);
      b.send(0x1, `b${i}`);
    }
    assert.deepEqual(await page, { status: 200, body: 'page' });
    await a.until(() => a.frames.length === 20, 'a');
    await b.until(() => b.frames.length === 20, 'b');
    assert.deepEqual(a.frames.map((f) => f.payload.toString()), Array.from({ length: 20 }, (_, i) => `a${i}`));
    assert.deepEqual(b.frames.map((f) => f.payload.toString()), Array.from({ length: 20 }, (_, i) => `b${i}`));
    a.stream.close(NGHTTP2_CANCEL);
    b.stream.close(NGHTTP2_CANCEL);
  });

  it('refuses with HTTP statuses on the stream, and the connection goes on', async () => {
    const denied = await openStream(session, '/echo?deny=1');
    assert.equal(denied.status, 403);
    assert.equal(denied.response['x-why'], 'test');
    const version = await openStream(session, '/echo', { 'sec-websocket-version': '8' });
    // 400, not 426: a 426 must name an Upgrade, which HTTP/2 has not (RFC 9113 §8.2.2).
    assert.equal(version.status, 400);
    assert.equal(version.response['sec-websocket-version'], '13');
    const badProtocol = await openStream(session, '/echo', { 'sec-websocket-protocol': 'a b' });
    assert.equal(badProtocol.status, 400);
    const noRoute = await openStream(session, '/nowhere');
    assert.equal(noRoute.status, 404);
    const chat = await openStream(session, '/echo', { ':protocol': 'chat' });
    assert.equal(chat.status, 501);
    // Still the same connection, still serving.
    const peer = await openStream(session, '/echo');
    peer.send(0x1, 'still here');
    assert.equal((await peer.frame(0)).payload.toString(), 'still here');
    peer.stream.close(NGHTTP2_CANCEL);
    assert.equal(session.destroyed, false);
  });

  it('a stream reset mid-message closes that peer with 1006 and leaves its neighbour alone', async () => {
    const before = closes.length;
    const [victim, neighbour] = await Promise.all([openStream(session, '/echo'), openStream(session, '/echo')]);
    // Half a frame: the header and part of the payload of a 100-byte message.
    victim.stream.write(clientFrame({ opcode: 0x1, payload: 'x'.repeat(100) }).subarray(0, 40));
    await new Promise((resolve) => setTimeout(resolve, 30));
    victim.stream.close(NGHTTP2_CANCEL);
    await victim.until(() => closes.length > before, 'the close hook');
    assert.deepEqual(closes.slice(before), [{ code: 1006, transport: 'websocket' }]);
    neighbour.send(0x1, 'ok');
    assert.equal((await neighbour.frame(0)).payload.toString(), 'ok');
    neighbour.stream.close(NGHTTP2_CANCEL);
  });

  it('a client killed mid-stream (its TCP connection gone) closes each of its WebSockets with 1006; another connection goes on', async () => {
    // The TLS socket under the session, to cut it as a killed process would (no GOAWAY, no FIN first).
    let socket: TLSSocket | null = null;
    const doomed = http2.connect(`https://localhost:${port}`, {
      createConnection: () => (socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: cert, ALPNProtocols: ['h2'] })),
    });
    doomed.on('error', () => {});
    await once(doomed, 'remoteSettings');
    const [a, b] = await Promise.all([openStream(doomed, '/echo?tag=killed'), openStream(doomed, '/echo?tag=killed')]);
    for (const peer of [a, b]) peer.stream.on('error', () => {});
    a.stream.write(clientFrame({ opcode: 0x1, payload: 'y'.repeat(200) }).subarray(0, 50));
    b.send(0x1, 'b');
    await b.frame(0);
    socket!.destroy();
    await a.until(() => tagged.length >= 2, 'both close hooks');
    assert.deepEqual(tagged, ['killed 1006', 'killed 1006']);
    const peer = await openStream(session, '/echo');
    peer.send(0x1, 'unaffected');
    assert.equal((await peer.frame(0)).payload.toString(), 'unaffected');
    peer.stream.close(NGHTTP2_CANCEL);
  });

  it('applies backpressure through HTTP/2 flow control: a stream that does not read gets `dropped`, then catches up', async () => {
    const slow = new Server({ maxBufferedAmount: 256 * 1024 });
    let result = '';
    let sent = 0;
    slow.route('/flood', {
      open(peer: Peer) {
        const chunk = Buffer.alloc(16 * 1024, 1);
        for (let i = 0; i < 1000; i++) {
          const answer = peer.send(chunk, true);
          if (answer === 'dropped') {
            result = `dropped after ${i}`;
            break;
          }
          sent++;
        }
      },
    });
    const address = await slow.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    const client = await connectSession(address.port);
    try {
      const peer = await openStream(client, '/flood');
      await peer.until(() => result !== '', 'the flood to stop');
      assert.match(result, /^dropped after \d+$/);
      // The connection's and the stream's windows (64 KiB each by default) held the rest back.
      assert.ok(sent < 100, `sent ${sent} chunks of 16 KiB before being told to stop`);
      await peer.until(() => peer.frames.length === sent, 'every accepted message', 5000);
    } finally {
      client.close();
      await slow.close({ timeout: 100 });
    }
  });
});

describe('HTTP/2 options', () => {
  it('webSocketOverHttp2: false advertises nothing, and an extended CONNECT is refused', async () => {
    const server = new Server({ webSocketOverHttp2: false });
    server.route('/echo', {});
    const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    const session = await connectSession(address.port);
    try {
      assert.notEqual(session.remoteSettings.enableConnectProtocol, true);
      // The client may not send :protocol before the server allows it (RFC 8441 §3).
      const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/echo', ':authority': 'localhost' }, { endStream: false });
      const [error] = (await once(stream, 'error')) as [NodeJS.ErrnoException];
      assert.ok(error.code !== undefined, 'refused');
    } finally {
      session.destroy();
      await server.close({ timeout: 100 });
    }
  });

  it('attaches to an application\'s own http2 server: turns on RFC 8441 and leaves its other requests to it', async () => {
    const own = http2.createSecureServer({ key, cert, allowHTTP1: true }, (_request, response) => {
      response.writeHead(200);
      response.end('app');
    });
    const server = new Server();
    server.route('/echo', { message: (peer: Peer, data: Buffer, isBinary: boolean) => void peer.send(data, isBinary) });
    server.attach(own);
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    const port = (own.address() as { port: number }).port;
    const session = await connectSession(port);
    try {
      assert.equal(session.remoteSettings.enableConnectProtocol, true);
      assert.deepEqual(await get(session, '/other'), { status: 200, body: 'app' });
      const peer = await openStream(session, '/echo');
      peer.send(0x1, 'through attach');
      assert.equal((await peer.frame(0)).payload.toString(), 'through attach');
      // The same server speaks WebSocket over HTTP/1.1 to a client that chose it by ALPN.
      const ws = new WebSocket(`wss://localhost:${port}/echo`, [], { tls: { ca: cert } });
      await once(ws, 'open');
      ws.send('over http/1.1');
      const [message] = (await once(ws, 'message')) as [{ data: string }];
      assert.equal(message.data, 'over http/1.1');
      ws.close();
      peer.stream.close(NGHTTP2_CANCEL);
    } finally {
      session.close();
      await server.close({ timeout: 100 });
      own.close();
    }
  });

  it('listen({ tls, http2: false }) serves HTTPS over HTTP/1.1 alone, WebSocket by upgrade', async () => {
    const server = new Server();
    server.route('/echo', { message: (peer: Peer, data: Buffer, isBinary: boolean) => void peer.send(data, isBinary) });
    const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert }, http2: false });
    try {
      const ws = new WebSocket(`wss://localhost:${address.port}/echo`, [], { tls: { ca: cert } });
      await once(ws, 'open');
      ws.send('tls');
      const [message] = (await once(ws, 'message')) as [{ data: string }];
      assert.equal(message.data, 'tls');
      ws.close();
      const session = http2.connect(`https://localhost:${address.port}`, { ca: cert });
      const [error] = (await once(session, 'error')) as [Error];
      assert.ok(error, 'no h2 by ALPN');
      session.destroy();
    } finally {
      await server.close({ timeout: 100 });
    }
  });

  it('close() ends WebSockets on HTTP/2 streams with 1001 and lets the connection go', async () => {
    const server = new Server({ closeTimeout: 200 });
    server.route('/echo', {});
    const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    const session = await connectSession(address.port);
    const peer = await openStream(session, '/echo');
    const goaway = once(session, 'goaway');
    const closed = server.close();
    const frame = await peer.frame(0);
    assert.equal(frame.payload.readUInt16BE(0), 1001);
    peer.send(0x8, closePayload(1001));
    await goaway;
    await closed;
    session.destroy();
  });

  it('forwards an HTTP session\'s requests that arrive over HTTP/2 to the node that owns it, over HTTP/1.1', async () => {
    const directory = new SharedDirectory();
    const owner = new Server({ engine: directory.engine() });
    const front = new Server({ engine: directory.engine() });
    for (const server of [owner, front]) server.route('/r', { message: (peer: Peer, data: Buffer, isBinary: boolean) => void peer.send(data, isBinary) });
    const ownerTransports = enableHttpTransports(owner, { hold: 2000 });
    const frontTransports = enableHttpTransports(front, { hold: 2000 });
    const ownerAddress = await owner.listen(0, '127.0.0.1');
    directory.urls.set(owner.topics.instanceId, `http://127.0.0.1:${ownerAddress.port}`);
    const frontAddress = await front.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    const session = await connectSession(frontAddress.port);
    try {
      const opened = await fetch(`http://127.0.0.1:${ownerAddress.port}/r?transport=long-polling`);
      const handshake = Buffer.from(await opened.arrayBuffer()).toString();
      const sid = /"sid":"([^"]+)"/.exec(handshake)![1]!;
      const post = session.request({ ':method': 'POST', ':path': `/r?transport=long-polling&sid=${sid}`, 'content-type': 'text/plain' });
      post.end('1;t5:hello');
      const [posted] = (await once(post, 'response')) as [IncomingHttpHeaders];
      post.resume();
      assert.equal(posted[':status'], 204);
      const poll = await get(session, `/r?transport=long-polling&sid=${sid}`);
      assert.equal(poll.status, 200);
      assert.match(poll.body, /hello/);
      assert.ok(directory.lookups >= 1, 'routed through the directory');
    } finally {
      session.close();
      ownerTransports.close();
      frontTransports.close();
      await Promise.all([owner.close({ timeout: 100 }), front.close({ timeout: 100 })]);
    }
  });

  it('refuses an HTTP/2 session upgrade that names a session nobody has, 400, and the connection goes on', async () => {
    const server = new Server();
    server.route('/r', {});
    const transports = enableHttpTransports(server);
    const address = await server.listen({ port: 0, host: '127.0.0.1', tls: { key, cert } });
    const session = await connectSession(address.port);
    try {
      const lying = await openStream(session, '/r?transport=websocket&sid=nobody.abcdefghijklmnopqrstuvwx');
      assert.equal(lying.status, 400);
      assert.deepEqual(await get(session, '/nowhere'), { status: 404, body: 'Not found\n' });
    } finally {
      session.close();
      transports.close();
      await server.close({ timeout: 100 });
    }
  });

  it('checks the listen options', async () => {
    const server = new Server();
    await assert.rejects(server.listen({ port: 0, tls: { key } }), { code: 'HL_ERR_INVALID_ARGUMENT', message: /key and a cert/ });
    await assert.rejects(server.listen({ port: 0, tls: { key, cert }, http2: 'yes' as unknown as boolean }), { code: 'HL_ERR_INVALID_ARGUMENT' });
    await assert.rejects(server.listen({ port: 0, tsl: {} } as never), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new Server({ webSocketOverHttp2: 1 as unknown as boolean }), { code: 'HL_ERR_INVALID_ARGUMENT' });
  });
});
