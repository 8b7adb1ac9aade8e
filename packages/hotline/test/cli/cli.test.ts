/**
 * The real CLI, spawned from the build: `hotline echo` (every path echoes, /broadcast
 * relays to all on it, --max-payload, shutdown on SIGTERM), `hotline connect` (a pipe: one
 * message per line in, one per line out; headers, subprotocols, exit codes; a terminal
 * through `script`), `--help` and `--version`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { WebSocket as WsClient } from 'ws';
import type { Server } from '../../src/server/server.js';
import { UpgradeRejection } from '../../src/types.js';
import { Recorder, assertEchoes, closeWs, listening, wsClient } from '../support/server.js';
import { delay, withTimeout } from '../support/timing.js';
import { run, startEcho } from './run.js';
import { MAIN } from './pty.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function nextWsMessage(ws: WsClient, ms = 2000): Promise<{ data: Buffer; isBinary: boolean }> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }))), ms, 'a message');
}

describe('hotline --help, --version and usage errors', { timeout: 20_000 }, () => {
  it('prints the usage with --help and -h, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await run([flag]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /^Usage: hotline <command>/);
      assert.match(result.stdout, /echo +--port N/);
      assert.match(result.stdout, /connect URL/);
    }
  });

  it('prints the usage and exits 1 without a command', async () => {
    const result = await run([]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^Usage: hotline/);
  });

  it('prints the package version with --version and -v', async () => {
    for (const flag of ['--version', '-v']) {
      const result = await run([flag]);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `${PACKAGE.version}\n`);
    }
  });

  for (const [args, pattern] of [
    [['launch'], /unknown command "launch"/],
    [['echo'], /echo needs --port N/],
    [['echo', '--port', 'eighty'], /--port must be an integer from 0 to 65535/],
    [['echo', '--port', '0', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['connect'], /connect needs a URL/],
    [['connect', 'ws://127.0.0.1:1/', '-H', 'no colon'], /-H expects "Name: value"/],
  ] as const) {
    it(`exits 2 with a usage error for: hotline ${args.join(' ')}`, async () => {
      const result = await run([...args]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('exits 2 without a stack trace for a URL that is not a WebSocket URL', async () => {
    const result = await run(['connect', 'ftp://127.0.0.1/']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /scheme/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});

describe('hotline echo', { timeout: 20_000 }, () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  before(async () => {
    echo = await startEcho();
  });
  after(async () => {
    echo.child.kill('SIGTERM');
    await withTimeout(echo.exited, 5000, 'hotline echo to exit');
  });

  it('echoes on every path: text as text, binary as binary, empty and 1 MiB included', async () => {
    for (const path of ['/', '/any/path', '/deep/er?query=1']) {
      const ws = await wsClient(`ws://127.0.0.1:${echo.port}${path}`);
      for (const [data, binary] of [
        ['hello', false],
        [Buffer.from([0, 1, 2, 255]), true],
        ['', false],
        [Buffer.alloc(0), true],
        [Buffer.alloc(1024 * 1024, 7), true],
      ] as const) {
        const reply = nextWsMessage(ws);
        ws.send(data, { binary });
        const got = await reply;
        assert.equal(got.isBinary, binary, path);
        assert.ok(got.data.equals(Buffer.from(data)), path);
      }
      await closeWs(ws);
    }
  });

  it('relays each message on /broadcast to every connection on /broadcast, and only those', async () => {
    const members = await Promise.all([1, 2, 3].map(() => wsClient(`ws://127.0.0.1:${echo.port}/broadcast`)));
    const outsider = await wsClient(`ws://127.0.0.1:${echo.port}/elsewhere`);
    let outsiderHeard = 0;
    outsider.on('message', () => outsiderHeard++);
    const text = members.map((ws) => nextWsMessage(ws));
    members[1]!.send('to everyone');
    for (const got of await Promise.all(text)) assert.deepEqual([got.data.toString(), got.isBinary], ['to everyone', false]);
    const binary = members.map((ws) => nextWsMessage(ws));
    members[2]!.send(Buffer.from([9, 8, 7]));
    for (const got of await Promise.all(binary)) assert.deepEqual([[...got.data], got.isBinary], [[9, 8, 7], true]);
    await delay(30);
    assert.equal(outsiderHeard, 0);
    await assertEchoes(outsider);
    await Promise.all([...members, outsider].map((ws) => closeWs(ws)));
  });
});

describe('hotline echo options and shutdown', { timeout: 20_000 }, () => {
  it('refuses a message over --max-payload with 1009, and goes on serving others', async () => {
    const echo = await startEcho(['--max-payload', '1000']);
    try {
      const good = await wsClient(`ws://127.0.0.1:${echo.port}/`);
      const big = await wsClient(`ws://127.0.0.1:${echo.port}/`);
      const closedWith = new Promise<number>((resolve) => big.once('close', (code: number) => resolve(code)));
      big.on('error', () => {});
      big.send(Buffer.alloc(1001));
      assert.equal(await withTimeout(closedWith, 2000, 'the oversized client to be closed'), 1009);
      const reply = nextWsMessage(good);
      good.send(Buffer.alloc(1000, 1));
      assert.equal((await reply).data.length, 1000);
      await closeWs(good);
    } finally {
      echo.child.kill('SIGTERM');
      await echo.exited;
    }
  });

  it('drains on SIGTERM: every connection closed with 1012 within --drain-window, then exits 0', async () => {
    const echo = await startEcho(['--drain-window', '300']);
    const ws = await wsClient(`ws://127.0.0.1:${echo.port}/`);
    const closedWith = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    echo.child.kill('SIGTERM');
    assert.equal(await withTimeout(closedWith, 3000, 'the client to be closed'), 1012);
    assert.equal(await withTimeout(echo.exited, 5000, 'hotline echo to exit'), 0);
  });

  it('closes every connection with 1001 on SIGINT and exits 0', async () => {
    const echo = await startEcho();
    const ws = await wsClient(`ws://127.0.0.1:${echo.port}/`);
    const closedWith = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    echo.child.kill('SIGINT');
    assert.equal(await withTimeout(closedWith, 3000, 'the client to be closed'), 1001);
    assert.equal(await withTimeout(echo.exited, 5000, 'hotline echo to exit'), 0);
  });
});

describe('hotline connect', { timeout: 30_000 }, () => {
  let server: Server;
  let url: string;
  const recorder = new Recorder();

  before(async () => {
    const started = await listening({}, (s) => {
      s.route('/echo', recorder.echo());
      s.route('/binary', { open: (peer) => void peer.send(Buffer.from([0xde, 0xad, 0xbe, 0xef])) });
      s.route('/inspect', {
        upgrade: (request) => ({
          protocol: request.protocols[0],
          data: `${request.headers['x-token']}|${request.headers['authorization']}|${request.protocols.join(',')}`,
        }),
        open: (peer) => void peer.send(String(peer.data)),
      });
      s.route('/slow', {
        message(peer) {
          // Replies trickle in after stdin has ended: connect waits for quiet.
          for (const [i, ms] of [100, 200, 300].entries()) setTimeout(() => peer.send(`late ${i}`), ms);
        },
      });
      s.route('/bye', { open: (peer) => peer.close(4000, 'go away') });
      s.route('/forbidden', {
        upgrade() {
          throw new UpgradeRejection(403, 'no');
        },
      });
    });
    server = started.server;
    url = started.url;
  });
  after(() => server.close({ timeout: 300 }));

  it('in a pipe, sends each stdin line as a message and prints each message on its own line', async () => {
    const result = await run(['connect', `${url}/echo`, '--wait', '2'], 'one\ntwö\n\nlast line\n');
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, 'one\ntwö\n\nlast line\n');
    assert.equal(result.code, 0);
    const close = await recorder.wait('close');
    assert.equal(close.code, 1000, 'closes normally once input ended and replies came');
  });

  it('prints binary messages as [binary N bytes] and hex', async () => {
    const result = await run(['connect', `${url}/binary`, '--wait', '2'], '');
    assert.equal(result.stdout, '[binary 4 bytes] deadbeef\n');
    assert.equal(result.code, 0);
  });

  it('sends -H headers and --protocol offers with the handshake', async () => {
    const result = await run(
      ['connect', `${url}/inspect`, '-H', 'X-Token: abc', '-H', 'Authorization: Bearer t', '--protocol', 'chat.v2', '--protocol', 'chat.v1', '--wait', '2'],
      '',
    );
    assert.equal(result.stdout, 'abc|Bearer t|chat.v2,chat.v1\n');
    assert.equal(result.code, 0);
  });

  it('after stdin ends, waits for replies until the connection has been quiet for 300 ms', async () => {
    const result = await run(['connect', `${url}/slow`, '--wait', '5'], 'go\n');
    assert.equal(result.stdout, 'late 0\nlate 1\nlate 2\n');
    assert.equal(result.code, 0);
  });

  it('reports a close from the server with its code and reason', async () => {
    const result = await run(['connect', `${url}/bye`], '');
    assert.equal(result.stderr, 'closed by the server: 4000 go away\n');
    assert.equal(result.code, 1, 'a close code other than 1000 is not a success');
  });

  it('exits 1 with the error code when the handshake is refused', async () => {
    const result = await run(['connect', `${url}/forbidden`], 'never sent\n');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: unexpected server response 403 (HL_ERR_HANDSHAKE_STATUS)\n', 'one line, no close report for a connection that never opened');
  });

  it('exits 1 when nothing listens on the port', async () => {
    const result = await run(['connect', 'ws://127.0.0.1:1/'], '');
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: connect ECONNREFUSED 127.0.0.1:1 (HL_ERR_SOCKET)\n');
  });

  it('on a terminal, shows a prompt-style session and closes with 1000 at end of input', async (t) => {
    // `script` gives the client a pseudo-terminal, as a person would.
    if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) {
      t.skip('script(1) from util-linux is not installed: no pseudo-terminal to test with');
      return;
    }
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} connect ${url}/echo`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await withTimeout(
        (async () => {
          while (!out.includes('Connected to')) await delay(20);
          child.stdin!.write('hello tty\r');
          while (!out.includes('< hello tty')) await delay(20);
          child.stdin!.write('\x04'); // Ctrl-D: end of input
        })(),
        5000,
        `the interactive session (so far: ${JSON.stringify(out)})`,
      );
      assert.equal(await withTimeout(exited, 5000, 'connect to exit'), 0);
      assert.match(out, /Connected to ws:\/\/127\.0\.0\.1:\d+\/echo\. Ctrl-C or Ctrl-D to close\./);
      assert.match(out, /closed: 1000/);
    } finally {
      child.kill();
    }
  });
});
