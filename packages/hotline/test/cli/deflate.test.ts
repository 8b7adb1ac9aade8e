/**
 * The command line's permessage-deflate switches, end to end: `hotline echo --deflate`
 * negotiates it with any client that offers it and compresses both ways (checked on the
 * wire by a proxy that records frames), `hotline echo` without the switch declines it;
 * `hotline connect --deflate` offers it and compresses what it sends, without the switch
 * it offers nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WebSocket as WsClient } from 'ws';

import { Server } from '../../src/server/server.js';
import { closeWs, wsClient } from '../support/server.js';
import { withTimeout } from '../support/timing.js';
import { FrameTap } from '../interop/frame-tap.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TEXT = 0x1;
const BINARY = 0x2;

/** Starts `hotline echo` with `args` on an ephemeral port; resolves with the port it reports. */
async function startEcho(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        const match = /^hotline echo listening on ws:\/\/127\.0\.0\.1:(\d+)$/m.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`hotline echo exited with ${code}: ${out}`)));
    }),
    5000,
    'hotline echo to listen',
  );
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await withTimeout(exited, 5000, 'hotline echo to exit');
}

/** Runs `hotline connect` with `input` piped in; resolves when it exits. */
function connect(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

function echoOnce(ws: WsClient, data: Buffer | string): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = withTimeout(
    new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (d: Buffer, isBinary: boolean) => resolve({ data: d, isBinary }))),
    3000,
    'an echo',
  );
  ws.send(data);
  return reply;
}

const LONG = 'the quick brown fox jumps over the lazy dog '.repeat(100); // 4,400 bytes

describe('hotline echo --deflate', { timeout: 30_000 }, () => {
  let echo: { child: ChildProcess; port: number };
  let tap: FrameTap;
  before(async () => {
    echo = await startEcho(['--deflate']);
    tap = await FrameTap.start(echo.port);
  });
  after(async () => {
    await tap.close();
    await stop(echo.child);
  });

  it('negotiates permessage-deflate with a client that offers it, and compresses both ways', async () => {
    const ws = await wsClient(`ws://127.0.0.1:${tap.port}/any/path`, undefined, { perMessageDeflate: { threshold: 0 } });
    assert.equal(ws.extensions, 'permessage-deflate');
    const text = await echoOnce(ws, LONG);
    assert.deepEqual([text.data.toString(), text.isBinary], [LONG, false]);
    const binary = Buffer.from(LONG.repeat(4));
    const back = await echoOnce(ws, binary);
    assert.ok(back.isBinary && back.data.equals(binary));
    const small = await echoOnce(ws, 'hi');
    assert.equal(small.data.toString(), 'hi');
    await closeWs(ws);

    const wire = tap.connections.at(-1)!;
    assert.equal(wire.toClient.header('sec-websocket-extensions'), 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
    const sent = wire.toServer.messages();
    const echoed = wire.toClient.messages();
    assert.deepEqual(sent.map((m) => [m.opcode, m.compressed]), [[TEXT, true], [BINARY, true], [TEXT, true]]);
    // Under the server's 1 KiB threshold, "hi" comes back uncompressed.
    assert.deepEqual(echoed.map((m) => [m.opcode, m.compressed]), [[TEXT, true], [BINARY, true], [TEXT, false]]);
    assert.ok(echoed[0]!.payloadBytes < LONG.length / 10, `${echoed[0]!.payloadBytes} bytes for ${LONG.length}`);
    assert.ok(echoed[1]!.payloadBytes < binary.length / 10);
  });

  it('still serves clients that do not offer it, uncompressed', async () => {
    const ws = await wsClient(`ws://127.0.0.1:${tap.port}/plain`, undefined, { perMessageDeflate: false });
    assert.equal(ws.extensions, '');
    assert.equal((await echoOnce(ws, LONG)).data.toString(), LONG);
    await closeWs(ws);
    const wire = tap.connections.at(-1)!;
    assert.equal(wire.toClient.header('sec-websocket-extensions'), undefined);
    assert.deepEqual(wire.toClient.messages().map((m) => m.compressed), [false]);
  });

  it('relays a compressed message to every client on /broadcast', async () => {
    const a = await wsClient(`ws://127.0.0.1:${echo.port}/broadcast`, undefined, { perMessageDeflate: true });
    const b = await wsClient(`ws://127.0.0.1:${tap.port}/broadcast`, undefined, { perMessageDeflate: true });
    const heard = withTimeout(new Promise<Buffer>((resolve) => b.once('message', (d: Buffer) => resolve(d))), 3000, 'the broadcast');
    const own = await echoOnce(a, LONG);
    assert.equal(own.data.toString(), LONG);
    assert.equal((await heard).toString(), LONG);
    await closeWs(a);
    await closeWs(b);
    assert.deepEqual(tap.connections.at(-1)!.toClient.messages().map((m) => m.compressed), [true]);
  });
});

describe('hotline echo without --deflate', { timeout: 30_000 }, () => {
  it('declines permessage-deflate, and echoes uncompressed', async () => {
    const echo = await startEcho([]);
    const tap = await FrameTap.start(echo.port);
    try {
      const ws = await wsClient(`ws://127.0.0.1:${tap.port}/`, undefined, { perMessageDeflate: true });
      assert.equal(ws.extensions, '');
      assert.equal((await echoOnce(ws, LONG)).data.toString(), LONG);
      await closeWs(ws);
      const wire = tap.connections[0]!;
      assert.match(wire.toServer.header('sec-websocket-extensions') ?? '', /^permessage-deflate/);
      assert.equal(wire.toClient.header('sec-websocket-extensions'), undefined);
      assert.deepEqual([...wire.toServer.messages(), ...wire.toClient.messages()].map((m) => m.compressed), [false, false]);
    } finally {
      await tap.close();
      await stop(echo.child);
    }
  });
});

describe('hotline connect --deflate', { timeout: 30_000 }, () => {
  let server: Server;
  let tap: FrameTap;
  const agreed: string[] = [];
  before(async () => {
    server = new Server({ perMessageDeflate: true });
    server.route('*', {
      open(peer) {
        agreed.push(peer.extensions);
      },
      message(peer, data, isBinary) {
        peer.send(data, isBinary);
      },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    tap = await FrameTap.start(port);
  });
  after(async () => {
    await tap.close();
    await server.close({ timeout: 500 });
  });

  it('offers permessage-deflate, compresses lines from the threshold up, and prints the inflated echoes', async () => {
    const result = await connect([`ws://127.0.0.1:${tap.port}/`, '--deflate', '--wait', '300'], `${LONG}\nshort\n`);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${LONG}\nshort\n`);
    const wire = tap.connections.at(-1)!;
    assert.equal(wire.toServer.header('sec-websocket-extensions'), 'permessage-deflate; client_max_window_bits');
    assert.equal(agreed.at(-1), 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
    // Client frames are masked; RSV1 on the long line only (1 KiB threshold), both ways.
    assert.deepEqual(wire.toServer.messages().map((m) => [m.compressed, m.frames[0]!.masked]), [[true, true], [false, true]]);
    assert.deepEqual(wire.toClient.messages().map((m) => m.compressed), [true, false]);
  });

  it('offers nothing without --deflate', async () => {
    const result = await connect([`ws://127.0.0.1:${tap.port}/`, '--wait', '300'], `${LONG}\n`);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${LONG}\n`);
    const wire = tap.connections.at(-1)!;
    assert.equal(wire.toServer.header('sec-websocket-extensions'), undefined);
    assert.equal(agreed.at(-1), '');
    assert.deepEqual([...wire.toServer.messages(), ...wire.toClient.messages()].map((m) => m.compressed), [false, false]);
  });

  it('lists --deflate in the usage of both commands', async () => {
    const result = await connect(['--help'], '');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: hotline connect/);
    assert.match(result.stdout, /\n +--deflate +offer permessage-deflate/);
    const echo = spawnSync(process.execPath, [MAIN, 'echo', '--help'], { encoding: 'utf8' });
    assert.equal(echo.status, 0);
    assert.match(echo.stdout, /\n +--deflate +accept permessage-deflate/);
  });
});
