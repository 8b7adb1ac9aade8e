/**
 * The WebSocket shell on its own: a client shell and a server shell over an in-memory
 * duplex pair, each with a recording owner. No server, no handshake, no TCP.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Side } from '../../src/protocol/side.js';
import { ReadyState } from '../../src/protocol/ready-state.js';
import type { DeflateParams } from '../../src/protocol/permessage-deflate.js';
import { PerMessageDeflate } from '../../src/websocket/permessage-deflate.js';
import { Sweep } from '../../src/timers/sweep.js';
import { decodeFrames, frame } from '../support/bytes.js';
import { MASK, closePayload } from '../support/raw.js';
import { duplexPair } from '../support/duplex-pair.js';
import { DEFAULT_SHELL_OPTIONS, openShell, shellPair } from '../support/shell-pair.js';
import { eventually } from '../support/timing.js';

const TEXT = 0x1;
const CLOSE = 0x8;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the shell over a duplex pair: messages', () => {
  it('carries text and binary messages both ways, text as text and binary as binary', async () => {
    const { client, server } = shellPair();
    assert.equal(client.shell.send(Buffer.from('hello'), false), 'sent');
    const text = await server.next('message');
    assert.deepEqual([text.data.toString(), text.isBinary], ['hello', false]);
    assert.equal(server.shell.send(Buffer.from([0, 1, 2, 255]), true), 'sent');
    const binary = await client.next('message');
    assert.deepEqual([[...binary.data], binary.isBinary], [[0, 1, 2, 255], true]);
  });

  it('delivers a fragmented message once, whole (RFC 6455 §5.4), with a Ping between its fragments', async () => {
    const { client, server } = shellPair();
    assert.equal(client.shell.sendFragment(Buffer.from('Hel'), false, false), 'sent');
    // A whole message may not start inside a fragmented one; a control frame may.
    assert.equal(client.shell.send(Buffer.from('not now'), false), 'dropped');
    client.shell.ping(Buffer.from('between'));
    client.shell.sendFragment(Buffer.from('lo'), false, false);
    client.shell.sendFragment(Buffer.from('!'), false, true);
    const message = await server.next('message');
    assert.equal(message.data.toString(), 'Hello!');
    assert.equal((await server.next('ping')).data.toString(), 'between');
    assert.equal(server.of('message').length, 1);
  });

  it('answers a Ping with a Pong of the same payload, on its own (§5.5.2)', async () => {
    const { client, server } = shellPair();
    client.shell.ping(Buffer.from('are you there'));
    assert.equal((await server.next('ping')).data.toString(), 'are you there');
    assert.equal((await client.next('pong')).data.toString(), 'are you there');
    server.shell.ping(Buffer.from('and you'));
    assert.equal((await client.next('ping')).data.toString(), 'and you');
    assert.equal((await server.next('pong')).data.toString(), 'and you');
  });
});

describe('the shell over a duplex pair: the closing handshake', () => {
  it('closes cleanly when the client starts, with its code and reason on both sides', async () => {
    const { client, server } = shellPair();
    client.shell.close(4000, 'bye');
    assert.equal(client.shell.readyState, ReadyState.CLOSING);
    const serverClose = await server.next('close');
    const clientClose = await client.next('close');
    assert.deepEqual([serverClose.code, serverClose.reason, serverClose.wasClean], [4000, 'bye', true]);
    // §5.5.1: the server echoes the code it received (not the reason).
    assert.deepEqual([clientClose.code, clientClose.reason, clientClose.wasClean], [4000, '', true]);
    assert.equal(server.of('closing').length, 1);
    assert.equal(client.shell.readyState, ReadyState.CLOSED);
    assert.equal(server.shell.readyState, ReadyState.CLOSED);
    assert.equal(client.shell.send(Buffer.from('late'), false), 'dropped');
  });

  it('closes cleanly when the server starts; the client hears the Close before the end', async () => {
    const { client, server } = shellPair();
    server.shell.close(1001, 'going away');
    const clientClose = await client.next('close');
    const serverClose = await server.next('close');
    assert.deepEqual([clientClose.code, clientClose.reason, clientClose.wasClean], [1001, 'going away', true]);
    assert.deepEqual([serverClose.code, serverClose.wasClean], [1001, true]);
    assert.deepEqual(
      client.events.map((e) => e.type),
      ['closing', 'close'],
    );
    assert.equal(clientClose.failure, null);
  });

  it('throws HL_ERR_INVALID_ARGUMENT for a close code no Close frame may carry, and sends nothing', async () => {
    const { client } = shellPair();
    assert.throws(() => client.shell.close(1005, 'x'), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.throws(() => client.shell.close(2999), { code: 'HL_ERR_INVALID_ARGUMENT' });
    assert.equal(client.shell.readyState, ReadyState.OPEN);
  });

  it('reports 1006, not clean, when the connection is dropped without a Close', async () => {
    const { client, server } = shellPair();
    client.shell.terminate();
    const serverClose = await server.next('close');
    assert.deepEqual([serverClose.code, serverClose.wasClean], [1006, false]);
    assert.equal((await client.next('close')).code, 1006);
  });
});

describe('the shell over a duplex pair: failures', () => {
  it('fails with 1002 on a frame with a reserved bit set, reported once through the owner', async () => {
    const { client: raw, server: socket } = duplexPair();
    const server = openShell('server', socket, new Sweep(1000), { ...DEFAULT_SHELL_OPTIONS, side: Side.SERVER });
    const received: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => received.push(chunk));
    raw.write(frame({ opcode: TEXT, payload: 'bad', rsv2: true, mask: MASK }));
    const error = await server.next('error');
    assert.equal((error.error as { closeCode?: number }).closeCode, 1002);
    assert.equal(server.of('message').length, 0);
    await eventually(() => received.length > 0, 2000, 'the Close frame');
    const [close] = decodeFrames(Buffer.concat(received));
    assert.equal(close!.opcode, CLOSE);
    assert.equal(close!.payload.readUInt16BE(0), 1002);
    // §7.1.7: after failing, the server closes TCP first.
    raw.end();
    const closed = await server.next('close');
    assert.deepEqual([closed.code, closed.wasClean], [1006, false]);
    assert.equal(server.of('error').length, 1);
  });

  it('fails with 1011 when an owner hook throws, the details withheld from the peer', async () => {
    const { client, server } = shellPair();
    const bug = new Error('a bug in the message hook');
    server.onEvent = (event) => {
      if (event.type === 'message') throw bug;
    };
    client.shell.send(Buffer.from('boom'), false);
    const clientClose = await client.next('close');
    assert.equal(clientClose.code, 1011);
    assert.equal(clientClose.reason, '');
    const serverClose = await server.next('close');
    assert.equal(serverClose.failure, bug);
    // A hook that threw is no protocol error: `error` is not called, `failure` tells.
    assert.equal(server.of('error').length, 0);
  });

  it('fails with 1011 when an owner hook rejects', async () => {
    const { client, server } = shellPair();
    server.onEvent = (event) => (event.type === 'message' ? Promise.reject(new Error('async bug')) : undefined);
    client.shell.send(Buffer.from('boom'), false);
    assert.equal((await client.next('close')).code, 1011);
    assert.equal((await server.next('close')).failure?.message, 'async bug');
  });

  it('fails with 1011 when the parser faults, once, through the owner', async () => {
    const { client, server } = shellPair();
    (server.shell as unknown as { protocolState: Record<string, unknown> }).protocolState['onPing'] = () => {
      throw new Error('a bug in the sink');
    };
    client.shell.ping();
    assert.equal((await client.next('close')).code, 1011);
    const error = await server.next('error');
    assert.equal((error.error as { code?: string }).code, 'HL_ERR_INTERNAL');
  });
});

describe('the shell over a duplex pair: backpressure', () => {
  it('answers buffered once the other end stops reading, then fires drain when it has caught up', async () => {
    const { client, server, clientEnd } = shellPair({ highWaterMark: 1024 });
    clientEnd.pause();
    const payload = Buffer.alloc(4096, 7);
    const results: string[] = [];
    for (let i = 0; i < 64 && !results.includes('buffered'); i++) {
      results.push(server.shell.send(payload, true));
      await turn();
    }
    assert.equal(results.at(-1), 'buffered');
    assert.ok(server.shell.bufferedAmount > 0);
    assert.equal(server.of('drain').length, 0);
    clientEnd.resume();
    await server.next('drain');
    assert.equal(server.shell.bufferedAmount, 0);
    await client.next('message', results.length);
  });

  it('drops sends over maxBufferedAmount, and still drains', async () => {
    const { server, clientEnd } = shellPair({ highWaterMark: 1024, server: { maxBufferedAmount: 16 * 1024 } });
    clientEnd.pause();
    const results: string[] = [];
    for (let i = 0; i < 64 && !results.includes('dropped'); i++) {
      results.push(server.shell.send(Buffer.alloc(4096), true));
      await turn();
    }
    assert.equal(results.at(-1), 'dropped');
    clientEnd.resume();
    await server.next('drain');
  });
});

describe('the shell over a duplex pair: deadlines from the sweep', () => {
  it('pings at half the idle timeout, then drops a silent peer with HL_ERR_IDLE_TIMEOUT', async () => {
    // The sweep's own timer never fires in this test: its ticks are called by hand.
    const { client, server, sweep } = shellPair({ sweepInterval: 60_000, server: { idleTimeout: 180_000, sendPings: true } });
    assert.equal(sweep.size, 2);
    server.shell.sweep(Date.now()); // 60 s
    server.shell.sweep(Date.now()); // 120 s: past half, a Ping
    assert.equal((await client.next('ping')).data.length, 0);
    // The client's automatic Pong counts as something received: the count starts again.
    await server.next('pong');
    for (let i = 0; i < 3; i++) server.shell.sweep(Date.now());
    const closed = await server.next('close');
    assert.equal((closed.failure as { code?: string }).code, 'HL_ERR_IDLE_TIMEOUT');
    assert.equal(closed.code, 1006);
    await client.next('close');
    assert.equal(sweep.size, 0);
  });

  it('drops the connection when the closing handshake does not complete within closeTimeout', async () => {
    const { client, serverEnd } = shellPair({ client: { closeTimeout: 500 } });
    // The server reads nothing more: the client's Close is never answered.
    serverEnd.pause();
    client.shell.close(1000, 'bye');
    client.shell.sweep(Date.now() + 100);
    await turn();
    assert.equal(client.of('close').length, 0);
    client.shell.sweep(Date.now() + 501);
    const closed = await client.next('close');
    assert.equal((closed.failure as { code?: string }).code, 'HL_ERR_CLOSE_TIMEOUT');
    assert.equal(closed.wasClean, false);
  });
});

describe('the shell over a duplex pair: permessage-deflate', () => {
  const params: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  const codec = (side: Side): PerMessageDeflate => new PerMessageDeflate(params, side, { maxPayload: 1024 * 1024, threshold: 0 });

  it('round-trips compressed messages in order, with an uncompressed one among them', async () => {
    const { client, server, clientEnd } = shellPair({
      client: { codec: codec(Side.CLIENT), extensions: 'permessage-deflate' },
      server: { codec: codec(Side.SERVER), extensions: 'permessage-deflate' },
    });
    const wire: Buffer[] = [];
    clientEnd.on('data', (chunk: Buffer) => wire.push(chunk));
    const text = 'hotline '.repeat(500);
    client.shell.send(Buffer.from(text), false);
    client.shell.send(Buffer.from('plain'), false, false);
    client.shell.send(Buffer.from(text.toUpperCase()), false);
    assert.deepEqual(
      (await server.next('message', 3)) && server.of('message').map((m) => m.data.toString()),
      [text, 'plain', text.toUpperCase()],
    );
    // Echo the first back: compressed on the way out (RSV1), far smaller than the text.
    server.shell.send(server.of('message')[0]!.data, false);
    assert.equal((await client.next('message')).data.toString(), text);
    const [echo] = decodeFrames(Buffer.concat(wire));
    assert.equal(echo!.rsv1, true);
    assert.ok(echo!.payload.length < text.length / 10, `${echo!.payload.length} bytes on the wire`);
    assert.equal(client.shell.extensions, 'permessage-deflate');
    client.shell.close(1000);
    assert.equal((await server.next('close')).wasClean, true);
  });

  it('lets a close wait for the compressed messages ahead of it', async () => {
    const { client, server } = shellPair({
      client: { codec: codec(Side.CLIENT), extensions: 'permessage-deflate' },
      server: { codec: codec(Side.SERVER), extensions: 'permessage-deflate' },
    });
    assert.equal(client.shell.send(Buffer.from('first '.repeat(100)), false), 'buffered');
    client.shell.close(4001, 'after it');
    assert.equal(client.shell.readyState, ReadyState.CLOSING);
    assert.equal(client.shell.send(Buffer.from('too late'), false), 'dropped');
    const close = await server.next('close');
    assert.deepEqual([close.code, close.reason], [4001, 'after it']);
    assert.equal(server.of('message').length, 1);
  });
});

describe('the close code sent with `closePayload`', () => {
  it('is what a Close from the raw end carries', async () => {
    const { client: raw, server: socket } = duplexPair();
    const server = openShell('server', socket, new Sweep(1000), { ...DEFAULT_SHELL_OPTIONS, side: Side.SERVER });
    raw.resume();
    raw.write(frame({ opcode: CLOSE, payload: closePayload(3000, 'raw'), mask: MASK }));
    raw.once('end', () => raw.end());
    const close = await server.next('close');
    assert.deepEqual([close.code, close.reason, close.wasClean], [3000, 'raw', true]);
  });
});
