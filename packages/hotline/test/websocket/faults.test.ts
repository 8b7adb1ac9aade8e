/**
 * Faults inside one connection — a sink, a codec, a socket write that throws; a hook
 * whose promise rejects — fail that connection alone with 1011 (details withheld from
 * the peer) and are reported once through the `error` hook (server) or `error` event
 * (client). Nothing reaches Node's event loop: the process would crash on an uncaught
 * exception or an unhandled rejection, and the bystander would stop echoing.
 */
import type net from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import type { WebSocketPeer } from '../../src/server/peer.js';
import type { MessageCodec } from '../../src/websocket/codec.js';
import type { ErrorEvent } from '../../src/client/events.js';
import type { Handler, Peer } from '../../src/types.js';
import { RawPeer } from '../support/raw.js';
import { RawServer, serverFrame, switching } from '../support/raw-server.js';
import { closed, openClient } from '../support/client.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { deferred, delay, withTimeout } from '../support/timing.js';

const TEXT = 0x1;
const PING = 0x9;

/** The shell behind a peer (the Peer interface hides it). */
const shell = (peer: Peer<any>) =>
  (peer as unknown as WebSocketPeer).shell as unknown as { protocolState: Record<string, unknown>; socket: net.Socket };

/** Fails the test if anything escapes to the process while it runs. */
function watchProcess(): { escaped: unknown[]; stop(): void } {
  const escaped: unknown[] = [];
  const onError = (error: unknown) => escaped.push(error);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    escaped,
    stop() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

describe('a fault inside one server connection', { timeout: 30_000 }, () => {
  let server: Server;
  let port: number;
  let good: WsClient;
  const recorder = new Recorder();
  const behaviours = new Map<string, Partial<Handler>>();
  let watch: ReturnType<typeof watchProcess>;

  before(async () => {
    const started = await listening({ closeTimeout: 500 }, (s) =>
      s.route(
        '*',
        recorder.echo({
          upgrade: (request) => ({ data: { path: request.path } }),
        }),
      ),
    );
    server = started.server;
    port = started.port;
    good = await wsClient(`${started.url}/good`);
    await recorder.nextPeer();
  });

  after(async () => {
    await closeWs(good);
    await server.close({ timeout: 300 });
  });

  beforeEach(() => {
    watch = watchProcess();
  });

  afterEach(() => {
    watch.stop();
    behaviours.clear();
    assert.deepEqual(watch.escaped, [], 'nothing escaped to the process');
  });

  async function expect1011(raw: RawPeer, peer: Peer<any>): Promise<void> {
    const close = await raw.readClose(3000);
    assert.equal(close.code, 1011);
    assert.equal(close.reason, '', 'details are withheld from the peer');
    const closeHook = await recorder.wait('close', peer);
    assert.ok(closeHook);
    const errors = recorder.of('error', peer);
    assert.equal(errors.length, 1, 'reported once');
    assert.equal(errors[0]!.error.code, 'HL_ERR_INTERNAL');
    assert.equal(errors[0]!.error.closeCode, 1011);
    await assertEchoes(good);
  }

  it('fails with 1011 when the parser sink throws, reported once, the process untouched', async () => {
    const raw = await RawPeer.open(port, '/sink');
    const peer = await recorder.nextPeer();
    const fault = new Error('a bug in the sink');
    shell(peer).protocolState.onPing = () => {
      throw fault;
    };
    raw.send({ opcode: PING, payload: 'p' });
    await expect1011(raw, peer);
    assert.equal((recorder.of('error', peer)[0]!.error as { cause?: unknown }).cause, fault);
  });

  it('fails with 1011 when a socket write throws inside the shell', async () => {
    const raw = await RawPeer.open(port, '/write');
    const peer = await recorder.nextPeer();
    const socket = shell(peer).socket;
    const write = socket.write;
    let thrown = 0;
    socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
      if (thrown++ === 0) throw new Error('write failed');
      return write.apply(this, args);
    } as typeof write;
    raw.send({ opcode: TEXT, payload: 'hello' });
    await expect1011(raw, peer);
  });

  it('fails with 1011 when a codec calls back with garbage, from a zlib callback', async () => {
    const codec: MessageCodec = {
      shouldCompress: () => false,
      compress: (_data, callback) => setImmediate(callback, null, Buffer.alloc(0)),
      compressShared: () => null,
      // A broken codec: its result is not a Buffer, which the shell cannot handle.
      decompress: (_data, callback) => setImmediate(() => callback(null, 42 as unknown as Buffer)),
      close: () => {},
    };
    server.setExtensionNegotiator(() => ({ response: 'permessage-deflate', codec }));
    try {
      const raw = await RawPeer.open(port, '/codec', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      const peer = await recorder.nextPeer();
      raw.send({ opcode: TEXT, payload: 'compressed?', rsv1: true });
      await expect1011(raw, peer);
      assert.equal(recorder.of('message', peer).length, 0);
    } finally {
      server.setExtensionNegotiator(() => ({ response: '', codec: null }));
    }
  });
});

describe('async hooks that reject', { timeout: 30_000 }, () => {
  let watch: ReturnType<typeof watchProcess>;
  let server: Server | null = null;

  beforeEach(() => {
    watch = watchProcess();
  });

  afterEach(async () => {
    await server?.close({ timeout: 300 });
    server = null;
    watch.stop();
    assert.deepEqual(watch.escaped, [], 'no unhandled rejection');
  });

  async function start(handler: Handler): Promise<{ port: number; url: string; errors: Error[]; closes: number[] }> {
    const errors: Error[] = [];
    const closes: number[] = [];
    const started = await listening({ closeTimeout: 500 }, (s) =>
      s.route('*', {
        ...handler,
        error: (peer, error) => {
          errors.push(error);
          return handler.error?.(peer, error);
        },
        close: (peer, code, reason) => {
          closes.push(code);
          return handler.close?.(peer, code, reason);
        },
      }),
    );
    server = started.server;
    return { port: started.port, url: started.url, errors, closes };
  }

  for (const hook of ['open', 'message'] as const) {
    it(`closes the peer with 1011 and reports the rejection when an async ${hook} hook rejects`, async () => {
      const rejection = new Error(`${hook} failed`);
      const { port, errors, closes } = await start({
        [hook]: async () => {
          await delay(1);
          throw rejection;
        },
      });
      const raw = await RawPeer.open(port, '/');
      raw.send({ opcode: TEXT, payload: 'hi' });
      const close = await raw.readClose(3000);
      assert.equal(close.code, 1011);
      assert.equal(close.reason, '');
      await raw.waitClosed(3000);
      await withTimeout((async () => {
        while (closes.length === 0) await delay(5);
      })(), 2000, 'the close hook');
      assert.deepEqual(errors, [rejection]);
    });
  }

  it('closes the peer with 1011 when an async drain hook rejects', async () => {
    const rejection = new Error('drain failed');
    let peerSeen: Peer | null = null;
    const { port, errors } = await start({
      open: (peer) => {
        peerSeen = peer;
        // Enough to back the socket up while the client does not read.
        while (peer.send(Buffer.alloc(256 * 1024)) === 'sent');
      },
      drain: async () => {
        throw rejection;
      },
    });
    const raw = await RawPeer.open(port, '/');
    // Read everything: the socket drains, the hook runs and rejects.
    const close = await raw.readClose(10_000);
    assert.equal(close.code, 1011);
    assert.ok(peerSeen !== null);
    await raw.waitClosed(3000);
    await withTimeout((async () => {
      while (errors.length === 0) await delay(5);
    })(), 2000, 'the error hook');
    assert.deepEqual(errors, [rejection]);
  });

  it('reports a rejecting close hook through the error hook, and changes nothing else', async () => {
    const rejection = new Error('close failed');
    const { port, errors, closes } = await start({
      message: (peer, data) => void peer.send(data),
      close: async () => {
        throw rejection;
      },
    });
    const raw = await RawPeer.open(port, '/');
    raw.send({ opcode: TEXT, payload: 'echo' });
    assert.equal((await raw.readFrame()).payload.toString(), 'echo');
    raw.destroy();
    await withTimeout((async () => {
      while (errors.length === 0) await delay(5);
    })(), 2000, 'the error hook');
    assert.deepEqual(errors, [rejection]);
    assert.deepEqual(closes, [1006]);
  });

  it('does not loop when the error hook itself rejects', async () => {
    let calls = 0;
    const { port } = await start({
      message: async () => {
        throw new Error('message failed');
      },
      error: async () => {
        calls++;
        throw new Error('error hook failed too');
      },
    });
    const raw = await RawPeer.open(port, '/');
    raw.send({ opcode: TEXT, payload: 'hi' });
    assert.equal((await raw.readClose(3000)).code, 1011);
    await raw.waitClosed(3000);
    await delay(50);
    assert.equal(calls, 1);
  });
});

describe('a fault inside the Node client', { timeout: 30_000 }, () => {
  it('fails with 1011 when its parser sink throws, reported once as an error event', async () => {
    const watch = watchProcess();
    const got = deferred<Buffer>();
    const server = await RawServer.start(async ({ peer, key }) => {
      peer.write(switching(key));
      peer.write(serverFrame({ opcode: TEXT, payload: 'before' }));
      // Let the client take the first frame on its own.
      await delay(50);
      peer.write(serverFrame({ opcode: PING, payload: 'boom' }));
      const close = await peer.readClose(3000);
      got.resolve(Buffer.from([close.code >> 8, close.code & 0xff]));
      peer.end();
    });
    try {
      const ws = await openClient(`${server.url}/`);
      const errors: ErrorEvent[] = [];
      ws.addEventListener('error', (event) => errors.push(event as unknown as ErrorEvent));
      await new Promise((resolve) => ws.addEventListener('message', resolve, { once: true }));
      const connection = (ws as unknown as { connection: { protocolState: Record<string, unknown> } }).connection;
      connection.protocolState.onPing = () => {
        throw new Error('a bug in the sink');
      };
      assert.equal((await withTimeout(got.promise, 3000, 'the Close')).readUInt16BE(0), 1011);
      const close = await closed(ws, 3000);
      assert.equal(close.wasClean, false);
      assert.equal(errors.length, 1);
      assert.equal((errors[0]!.error as { code?: string }).code, 'HL_ERR_INTERNAL');
      assert.deepEqual(watch.escaped, []);
    } finally {
      watch.stop();
      await server.close();
    }
  });

});
