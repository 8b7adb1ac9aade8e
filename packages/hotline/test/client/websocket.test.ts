/**
 * The WHATWG `WebSocket` for Node, over real sockets: its attributes, argument rules and
 * DOMException names, the event order of the HTML spec, its checks of the server's
 * answer (RFC 6455 §4.1), and its Node-only options. The other side is either a Hotline
 * server or a raw TCP server that answers with whatever bytes the test needs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { WebSocket } from '../../src/client/websocket.js';
import type { Server } from '../../src/server/server.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import { onControlFrames } from '../support/control-frames.js';
import { type Seen, closed, nextMessage, openClient, record } from '../support/client.js';
import { acceptFor, closePayload } from '../support/raw.js';
import { type RawHandshake, RawServer, serverFrame, switching } from '../support/raw-server.js';
import { Recorder, listening } from '../support/server.js';
import { delay, deferred, eventually, spyOnTimers } from '../support/timing.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
/** Scheduling slack on a loaded two-core machine; the client's sweep ticks every 250 ms. */
const SLACK = 400;
const CLIENT_SWEEP = 250;

function domError(name: string) {
  return (error: unknown) => error instanceof DOMException && error.name === name;
}

/** Runs `ws` to its close event and returns every event seen, in order. */
async function runToClose(ws: WebSocket, ms = 3000): Promise<Seen[]> {
  const seen = record(ws);
  await closed(ws, ms);
  await delay(10);
  return seen;
}

describe('the WebSocket API against a Hotline server', { timeout: 20_000 }, () => {
  let server: Server;
  let url: string;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({}, (s) => {
      s.route('/echo', recorder.echo());
      s.route('/greet', { open: (peer) => void peer.send('welcome') });
      s.route('/protocols', { upgrade: (request) => ({ protocol: request.protocols.at(-1) }) });
      s.route('/headers', {
        open: (peer) => void peer.send(String((peer.data as { auth?: string }).auth)),
        upgrade: (request) => ({ data: { auth: request.headers['authorization'] } }),
      });
      s.route('/big', { open: (peer) => void peer.send(Buffer.alloc(2048)) });
      s.route('/close-me', { open: (peer) => peer.close(4321, 'server says bye') });
      s.route('/ping-me', { open: (peer) => (peer as unknown as { ping(d: Buffer): void }).ping(Buffer.from('hb')) });
    });
    server = started.server;
    url = started.url;
  });
  after(() => server.close({ timeout: 300 }));

  it('has the WHATWG constants, attributes and defaults', async () => {
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
    const ws = new WebSocket(`${url}/echo?x=1`);
    assert.ok(ws instanceof EventTarget);
    assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
    assert.equal(ws.url, `${url}/echo?x=1`);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.protocol, '');
    assert.equal(ws.extensions, '');
    assert.equal(ws.bufferedAmount, 0);
    assert.equal(ws.binaryType, 'blob');
    ws.binaryType = 'nonsense' as never;
    assert.equal(ws.binaryType, 'blob', 'an unknown binaryType is ignored');
    ws.binaryType = 'arraybuffer';
    assert.equal(ws.binaryType, 'arraybuffer');
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    await closed(ws);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('turns http: and https: URLs into ws: and wss:', () => {
    const plain = new WebSocket(url.replace('ws:', 'http:') + '/echo');
    assert.equal(plain.url, `${url}/echo`);
    plain.close();
    const secure = new WebSocket('https://127.0.0.1:1/');
    assert.equal(secure.url, 'wss://127.0.0.1:1/');
    secure.close();
  });

  for (const [name, make] of [
    ['an invalid URL', () => new WebSocket('not a url')],
    ['a non-WebSocket scheme', () => new WebSocket('ftp://127.0.0.1/')],
    ['a URL with a fragment', () => new WebSocket('ws://127.0.0.1/#frag')],
    ['a URL with an empty fragment', () => new WebSocket('ws://127.0.0.1/#')],
    ['duplicate subprotocols', () => new WebSocket('ws://127.0.0.1/', ['chat', 'chat'])],
    ['a subprotocol that is not a token', () => new WebSocket('ws://127.0.0.1/', 'a b')],
    ['an empty subprotocol', () => new WebSocket('ws://127.0.0.1/', '')],
  ] as const) {
    it(`throws SyntaxError for ${name}`, () => {
      assert.throws(make, domError('SyntaxError'));
    });
  }

  it('throws InvalidStateError on send while CONNECTING', async () => {
    const ws = new WebSocket(`${url}/echo`);
    assert.throws(() => ws.send('early'), domError('InvalidStateError'));
    ws.close();
    await closed(ws);
  });

  it('selects a subprotocol the client offered and exposes it as protocol', async () => {
    const ws = await openClient(`${url}/protocols`, ['one', 'two']);
    assert.equal(ws.protocol, 'two');
    ws.close();
    await closed(ws);
  });

  it('sends the Node-only headers option with the handshake', async () => {
    const ws = new WebSocket(`${url}/headers`, [], { headers: { Authorization: 'Bearer xyz' } });
    assert.equal(await nextMessage(ws), 'Bearer xyz');
    ws.close();
    await closed(ws);
  });

  it('delivers binary as Blob, ArrayBuffer or Buffer following binaryType', async () => {
    const ws = await openClient(`${url}/echo`);
    const bytes = new Uint8Array([1, 2, 3, 250]);
    ws.send(bytes);
    const blob = await nextMessage(ws);
    assert.ok(blob instanceof Blob);
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), bytes);
    ws.binaryType = 'arraybuffer';
    ws.send(bytes.buffer);
    const arrayBuffer = await nextMessage(ws);
    assert.ok(arrayBuffer instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(arrayBuffer), bytes);
    ws.binaryType = 'nodebuffer';
    ws.send(new Blob([bytes]));
    const buffer = await nextMessage(ws);
    assert.ok(Buffer.isBuffer(buffer));
    assert.deepEqual(new Uint8Array(buffer), bytes);
    ws.send('text stays text');
    assert.equal(await nextMessage(ws), 'text stays text');
    ws.send(new Uint8Array(0));
    assert.equal((await nextMessage(ws) as Buffer).length, 0);
    ws.send('');
    assert.equal(await nextMessage(ws), '');
    ws.close();
    await closed(ws);
  });

  it('keeps message order when a Blob is sent between other messages', async () => {
    const ws = await openClient(`${url}/echo`);
    ws.binaryType = 'nodebuffer';
    const got: string[] = [];
    const done = deferred();
    ws.addEventListener('message', (event) => {
      const data = (event as MessageEvent).data as unknown;
      got.push(typeof data === 'string' ? data : `<${(data as Buffer).toString()}>`);
      if (got.length === 3) done.resolve();
    });
    ws.send('a');
    ws.send(new Blob(['b']));
    ws.send('c');
    await done.promise;
    assert.deepEqual(got, ['a', '<b>', 'c']);
    ws.close();
    await closed(ws);
  });

  it('counts sends of the current tick in bufferedAmount, and keeps counting after close', async () => {
    const ws = await openClient(`${url}/echo`);
    const echo = nextMessage(ws);
    ws.send('x'.repeat(1000));
    assert.ok(ws.bufferedAmount >= 1000, `bufferedAmount ${ws.bufferedAmount}`);
    await eventually(() => ws.bufferedAmount === 0, 2000, 'the buffer to flush');
    await echo;
    ws.close();
    ws.send('after close');
    ws.send(new Uint8Array(5));
    assert.equal(ws.bufferedAmount, 'after close'.length + 5, 'data sent after closing is counted, not sent');
    await closed(ws);
    ws.send('after closed');
    assert.equal(ws.bufferedAmount, 'after close'.length + 5 + 'after closed'.length);
  });

  for (const code of [0, 999, 1001, 1002, 1005, 1006, 1015, 2999, 5000, 65535, 70000, -1, NaN]) {
    it(`throws InvalidAccessError for close(${code})`, async () => {
      const ws = await openClient(`${url}/echo`);
      assert.throws(() => ws.close(code), domError('InvalidAccessError'));
      assert.equal(ws.readyState, WebSocket.OPEN, 'nothing happened');
      ws.close();
      await closed(ws);
    });
  }

  for (const [given, sent] of [
    [3000.4, 3000],
    [999.6, 1000],
    [1000.5, 1000],
    ['4000', 4000],
  ] as const) {
    it(`converts close(${JSON.stringify(given)}) as WebIDL [Clamp] unsigned short: the server sees ${sent}`, async () => {
      recorder.skipOpened();
      const ws = await openClient(`${url}/echo`);
      const peer = await recorder.nextPeer();
      ws.close(given as number);
      await closed(ws);
      assert.equal((await recorder.wait('close', peer)).code, sent);
    });
  }

  it('throws InvalidAccessError for close(4999.5), which [Clamp] rounds to 5000', async () => {
    const ws = await openClient(`${url}/echo`);
    assert.throws(() => ws.close(4999.5), domError('InvalidAccessError'));
    ws.close();
    await closed(ws);
  });

  it('throws SyntaxError for a reason over 123 bytes of UTF-8, checking the code first', async () => {
    recorder.skipOpened();
    const ws = await openClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    const long = 'é'.repeat(62); // 124 bytes, 62 characters
    assert.throws(() => ws.close(1000, long), domError('SyntaxError'));
    assert.throws(() => ws.close(1001, long), domError('InvalidAccessError'));
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close(1000, 'é'.repeat(61) + 'a'); // 123 bytes
    assert.equal((await closed(ws)).code, 1000);
    assert.equal((await recorder.wait('close', peer)).reason, 'é'.repeat(61) + 'a');
  });

  it('still checks close() arguments once CLOSED', async () => {
    const ws = await openClient(`${url}/echo`);
    ws.close();
    await closed(ws);
    assert.throws(() => ws.close(1001), domError('InvalidAccessError'));
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), domError('SyntaxError'));
    ws.close(1000); // no-op
  });

  for (const [args, code, reason] of [
    [[], 1005, ''],
    [[1000], 1000, ''],
    [[1000, 'bye'], 1000, 'bye'],
    [[3000, 'lib'], 3000, 'lib'],
    [[4999, 'private'], 4999, 'private'],
    [[undefined, 'reason only'], 1000, 'reason only'],
  ] as const) {
    it(`close(${args.map((a) => JSON.stringify(a)).join(', ')}) reaches the server as ${code} ${JSON.stringify(reason)}`, async () => {
      recorder.skipOpened();
      const ws = await openClient(`${url}/echo`);
      const peer = await recorder.nextPeer();
      (ws.close as (...a: unknown[]) => void)(...args);
      const event = await closed(ws);
      const serverSide = await recorder.wait('close', peer);
      assert.deepEqual([serverSide.code, serverSide.reason], [code, reason]);
      assert.equal(event.wasClean, true);
      assert.equal(event.code, code, 'the close event carries the code of the echo');
    });
  }

  it('reports a server-initiated close with its code and reason, cleanly', async () => {
    const ws = new WebSocket(`${url}/close-me`);
    const seen = await runToClose(ws);
    assert.deepEqual(seen.map((e) => e.type), ['open', 'close']);
    assert.deepEqual([seen[1]!.code, seen[1]!.reason, seen[1]!.wasClean], [4321, 'server says bye', true]);
  });

  it('answers a server Ping with a Pong automatically, and sends its own with ping()', async () => {
    recorder.skipOpened();
    const ws = await openClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    const pong = deferred<Buffer>();
    const ping = deferred<Buffer>();
    onControlFrames(peer, { pong: (data) => pong.resolve(data), ping: (data) => ping.resolve(data) });
    (peer as unknown as WebSocketPeer).ping(Buffer.from('are you there'));
    assert.equal((await pong.promise).toString(), 'are you there');
    ws.ping(Buffer.from('me too'));
    assert.equal((await ping.promise).toString(), 'me too');
    ws.close();
    await closed(ws);
    assert.throws(() => ws.ping(), domError('InvalidStateError'));
  });

  it('fails with 1009 (HL_ERR_MESSAGE_TOO_BIG) on a message over maxPayload: error, then close', async () => {
    const ws = new WebSocket(`${url}/big`, [], { maxPayload: 1024 });
    const seen = await runToClose(ws);
    assert.deepEqual(seen.map((e) => e.type), ['open', 'error', 'close']);
    assert.equal(seen[1]!.error?.code, 'HL_ERR_MESSAGE_TOO_BIG');
    assert.equal(seen[1]!.readyState, WebSocket.CLOSED);
    assert.equal(seen[2]!.code, 1006);
    assert.equal(seen[2]!.wasClean, false);
  });

  it('drops the connection at once with terminate(): close 1006, not clean', async () => {
    recorder.skipOpened();
    const ws = await openClient(`${url}/echo`);
    const peer = await recorder.nextPeer();
    ws.terminate();
    const event = await closed(ws);
    assert.deepEqual([event.code, event.wasClean], [1006, false]);
    assert.equal((await recorder.wait('close', peer)).code, 1006);
  });

  it('drives every client deadline from one process-wide timer, not one per connection', async () => {
    const first = await openClient(`${url}/echo`);
    const timers = spyOnTimers();
    const { created } = timers;
    let clients: WebSocket[] = [];
    try {
      // Handshake deadlines, then close deadlines, for 20 connections.
      clients = await Promise.all(Array.from({ length: 20 }, () => openClient(`${url}/echo`, [], { handshakeTimeout: 5000, closeTimeout: 1000 })));
      for (const ws of clients) ws.close();
      await Promise.all(clients.map((ws) => closed(ws)));
    } finally {
      timers.restore();
    }
    assert.deepEqual(created, []);
    first.close();
    await closed(first);
  });

  it('connects through the agent option', async () => {
    let created = 0;
    const agent = new http.Agent();
    const original = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof original>) => {
      created++;
      return original(...args);
    }) as typeof agent.createConnection;
    const ws = await openClient(`${url}/echo`, [], { agent });
    assert.equal(created, 1);
    ws.close();
    await closed(ws);
    agent.destroy();
  });
});

describe('event order (HTML spec)', { timeout: 20_000 }, () => {
  const servers: RawServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  async function rawServer(onHandshake: (h: RawHandshake) => void): Promise<RawServer> {
    const server = await RawServer.start(onHandshake);
    servers.push(server);
    return server;
  }

  it('fires error, then close (1006), when the connection is refused; readyState is CLOSED in both', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const seen = await runToClose(new WebSocket(`ws://127.0.0.1:${port}/`));
    assert.deepEqual(seen.map((e) => [e.type, e.readyState]), [
      ['error', 3],
      ['close', 3],
    ]);
    assert.equal(seen[0]!.error?.code, 'HL_ERR_SOCKET');
    assert.deepEqual([seen[1]!.code, seen[1]!.wasClean], [1006, false]);
  });

  it('fires error, then close (1006), from a later task when close() is called while CONNECTING', async () => {
    const server = await rawServer(() => {});
    const ws = new WebSocket(`${server.url}/`);
    const seen = record(ws);
    ws.close(1000, 'never mind');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    await closed(ws);
    assert.deepEqual(seen.map((e) => e.type), ['error', 'close']);
    assert.equal(seen[1]!.code, 1006);
  });

  it('delivers frames that arrived with the 101 after open, to listeners added once open fired', async () => {
    // Regression: the head was parsed in the same task as `open`, so a listener added in a
    // promise continuation of `open` missed the first messages.
    const server = await rawServer(({ peer, key }) => {
      peer.write(Buffer.concat([Buffer.from(switching(key)), serverFrame({ opcode: TEXT, payload: 'first' }), serverFrame({ opcode: TEXT, payload: 'second' })]));
    });
    const ws = await openClient(`${server.url}/`);
    const got: unknown[] = [];
    ws.addEventListener('message', (event) => got.push((event as MessageEvent).data));
    await eventually(() => got.length === 2, 1000, 'both messages');
    assert.deepEqual(got, ['first', 'second']);
    ws.terminate();
  });

  it('delivers messages before the server\'s Close, then close with its code; none after CLOSING', async () => {
    const server = await rawServer(({ peer, key }) => {
      peer.write(
        Buffer.concat([
          Buffer.from(switching(key)),
          serverFrame({ opcode: TEXT, payload: 'one' }),
          serverFrame({ opcode: BINARY, payload: Buffer.from([2]) }),
          serverFrame({ opcode: CLOSE, payload: closePayload(4000, 'done') }),
        ]),
      );
      void peer.readClose().then(() => peer.end());
    });
    const ws = new WebSocket(`${server.url}/`);
    ws.binaryType = 'arraybuffer';
    const seen = await runToClose(ws);
    assert.deepEqual(seen.map((e) => e.type), ['open', 'message', 'message', 'close']);
    assert.equal(seen[1]!.data, 'one');
    assert.deepEqual([seen[3]!.code, seen[3]!.reason, seen[3]!.wasClean], [4000, 'done', true]);
  });

  it('delivers no message once the client started closing, even if the server sends some', async () => {
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(switching(key));
      const close = await peer.readClose();
      // The server goes on sending before it echoes the Close.
      peer.write(serverFrame({ opcode: TEXT, payload: 'late 1' }));
      peer.write(serverFrame({ opcode: TEXT, payload: 'late 2' }));
      peer.write(serverFrame({ opcode: CLOSE, payload: closePayload(close.code) }));
      peer.end();
    });
    const ws = await openClient(`${server.url}/`);
    const seen = record(ws);
    ws.close(1000);
    await closed(ws);
    assert.deepEqual(seen.map((e) => e.type), ['close']);
    assert.equal(seen[0]!.code, 1000);
  });

  it('fails on a masked server frame (1002, HL_ERR_MASKED_FRAME): error before close, Close 1002 sent', async () => {
    const closeSent = deferred<number>();
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(switching(key));
      await delay(20);
      peer.write(serverFrame({ opcode: TEXT, payload: 'masked', mask: Buffer.from([1, 2, 3, 4]) }));
      closeSent.resolve((await peer.readClose()).code);
      peer.end();
    });
    const seen = await runToClose(new WebSocket(`${server.url}/`));
    assert.deepEqual(seen.map((e) => [e.type, e.readyState]), [
      ['open', 1],
      ['error', 3],
      ['close', 3],
    ]);
    assert.equal(seen[1]!.error?.code, 'HL_ERR_MASKED_FRAME');
    assert.deepEqual([seen[2]!.code, seen[2]!.wasClean], [1006, false]);
    assert.equal(await closeSent.promise, 1002);
  });

  it('fails on invalid UTF-8 from the server (1007): error before close', async () => {
    const closeSent = deferred<number>();
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(Buffer.concat([Buffer.from(switching(key)), serverFrame({ opcode: TEXT, payload: Buffer.from([0xff]) })]));
      closeSent.resolve((await peer.readClose()).code);
      peer.end();
    });
    const seen = await runToClose(new WebSocket(`${server.url}/`));
    assert.deepEqual(seen.map((e) => e.type), ['open', 'error', 'close']);
    assert.equal(seen[1]!.error?.code, 'HL_ERR_INVALID_UTF8');
    assert.equal(await closeSent.promise, 1007);
  });

  it('delivers a message that came in one read with a violation, and sends its answer before the Close', async () => {
    const received = deferred<Array<[number, string]>>();
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(switching(key));
      await delay(20);
      peer.write(Buffer.concat([serverFrame({ opcode: TEXT, payload: 'question' }), serverFrame({ opcode: 0x3 })]));
      const close = await peer.readClose();
      received.resolve([...close.before.map((f): [number, string] => [f.opcode, f.payload.toString()]), [CLOSE, String(close.code)]]);
      peer.end();
    });
    const ws = new WebSocket(`${server.url}/`);
    ws.addEventListener('message', (event) => ws.send(`answer to ${(event as MessageEvent).data}`));
    const seen = await runToClose(ws);
    assert.deepEqual(seen.map((e) => e.type), ['open', 'message', 'error', 'close']);
    assert.equal(seen[2]!.error?.code, 'HL_ERR_INVALID_OPCODE');
    assert.deepEqual(await received.promise, [
      [TEXT, 'answer to question'],
      [CLOSE, '1002'],
    ]);
  });

  it('waits for the server to close TCP after the closing handshake, up to closeTimeout', async () => {
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(switching(key));
      const close = await peer.readClose();
      peer.write(serverFrame({ opcode: CLOSE, payload: closePayload(close.code) }));
      // ...and never closes TCP.
    });
    const ws = await openClient(`${server.url}/`, [], { closeTimeout: 300 });
    const started = Date.now();
    ws.close(1000);
    const event = await closed(ws, 300 + CLIENT_SWEEP + SLACK);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 - CLIENT_SWEEP, `closed after ${elapsed} ms`);
    assert.equal(event.code, 1000);
  });

  it('answers a server Ping with a Pong carrying the same payload', async () => {
    const pong = deferred<string>();
    const server = await rawServer(async ({ peer, key }) => {
      peer.write(Buffer.concat([Buffer.from(switching(key)), serverFrame({ opcode: PING, payload: 'beat' })]));
      const frame = await peer.readFrame();
      pong.resolve(`${frame.opcode}:${frame.masked}:${frame.payload.toString()}`);
    });
    const ws = await openClient(`${server.url}/`);
    assert.equal(await pong.promise, `${PONG}:true:beat`);
    ws.terminate();
  });
});

describe('checks of the server\'s answer (RFC 6455 §4.1)', { timeout: 20_000 }, () => {
  const cases: Array<[string, (key: string) => string, string, string[]?]> = [
    ['a wrong Sec-WebSocket-Accept', () => switching('AAAAAAAAAAAAAAAAAAAAAA=='), 'HL_ERR_HANDSHAKE_ACCEPT'],
    [
      'a missing Sec-WebSocket-Accept',
      () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'HL_ERR_HANDSHAKE_ACCEPT',
    ],
    [
      'an Upgrade other than websocket',
      (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      'HL_ERR_HANDSHAKE_UPGRADE',
    ],
    [
      'a 101 without Upgrade',
      (key) => `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      'HL_ERR_HANDSHAKE_UPGRADE',
    ],
    [
      'a 101 without Connection: Upgrade',
      (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
      'HL_ERR_HANDSHAKE_CONNECTION',
    ],
    ['a subprotocol that was not offered', (key) => switching(key, { 'Sec-WebSocket-Protocol': 'other' }), 'HL_ERR_HANDSHAKE_PROTOCOL', ['chat']],
    ['a subprotocol when none was offered', (key) => switching(key, { 'Sec-WebSocket-Protocol': 'chat' }), 'HL_ERR_HANDSHAKE_PROTOCOL'],
    ['an extension that was not offered', (key) => switching(key, { 'Sec-WebSocket-Extensions': 'permessage-deflate' }), 'HL_ERR_HANDSHAKE_EXTENSIONS'],
    ['a 200 instead of a 101', () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'HL_ERR_HANDSHAKE_STATUS'],
    ['a redirect', () => 'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n', 'HL_ERR_HANDSHAKE_STATUS'],
  ];

  for (const [name, answer, code, protocols] of cases) {
    it(`fails on ${name} (${code}): error then close 1006, never open`, async () => {
      const server = await RawServer.start(({ peer, key }) => peer.write(answer(key)));
      try {
        const seen = await runToClose(new WebSocket(`${server.url}/`, protocols ?? []));
        assert.deepEqual(seen.map((e) => e.type), ['error', 'close']);
        assert.equal(seen[0]!.error?.code, code);
        assert.deepEqual([seen[1]!.code, seen[1]!.wasClean], [1006, false]);
      } finally {
        await server.close();
      }
    });
  }

  it('gives up at handshakeTimeout when the server never answers (HL_ERR_HANDSHAKE_TIMEOUT)', async () => {
    const server = await RawServer.start(() => {});
    try {
      const started = Date.now();
      const seen = await runToClose(new WebSocket(`${server.url}/`, [], { handshakeTimeout: 300 }), 300 + CLIENT_SWEEP + SLACK);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 300 - CLIENT_SWEEP, `gave up after ${elapsed} ms`);
      assert.deepEqual(seen.map((e) => e.type), ['error', 'close']);
      assert.equal(seen[0]!.error?.code, 'HL_ERR_HANDSHAKE_TIMEOUT');
    } finally {
      await server.close();
    }
  });
});
