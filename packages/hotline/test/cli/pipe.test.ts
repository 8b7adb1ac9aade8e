/**
 * `hotline connect` in a pipe against a real `hotline echo`, over every transport at the
 * server's default poll interval: every reply printed, every run, exit 0; the pipe rule's
 * bound (`--wait`) exits 3 when a receive cycle cannot complete in time; a refused
 * connection is one line naming the address, exit 1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { withTimeout } from '../support/timing.js';
import { MAIN } from './pty.js';
import { type Echo, freePort, run, startEcho } from './run.js';

const TRANSPORTS = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'] as const;

describe('hotline connect in a pipe', { timeout: 60_000, concurrency: true }, () => {
  let echo: Echo;
  let base: string;
  before(async () => {
    echo = await startEcho();
    base = `http://127.0.0.1:${echo.port}`;
  });
  after(() => echo.stop());

  for (const transport of TRANSPORTS) {
    it(`prints both replies and exits 0 over --transport ${transport} (the server's interval)`, async () => {
      // Interval polling is where replies used to be lost: three runs, at once.
      const runs = transport === 'interval-polling' ? 3 : 1;
      const results = await Promise.all(Array.from({ length: runs }, () => run(['connect', '--transport', transport, `${base}/`], 'one\ntwo\n')));
      for (const result of results) {
        assert.deepEqual([result.stdout, result.stderr, result.code], ['one\ntwo\n', '', 0]);
      }
    });
  }

  it('prints both replies over a plain WebSocket, and for -x messages', async () => {
    const piped = await run(['connect', `127.0.0.1:${echo.port}/`], 'one\ntwo\n');
    assert.deepEqual([piped.stdout, piped.stderr, piped.code], ['one\ntwo\n', '', 0]);
    const executed = await run(['connect', '-x', 'one', '-x', 'two', `ws://127.0.0.1:${echo.port}/`], 'stdin is not read\n');
    assert.deepEqual([executed.stdout, executed.stderr, executed.code], ['one\ntwo\n', '', 0]);
    const polled = await run(['connect', '--transport', 'polling', '-x', 'one', '-x', 'two', `127.0.0.1:${echo.port}`]);
    assert.deepEqual([polled.stdout, polled.stderr, polled.code], ['one\ntwo\n', '', 0]);
  });

  it('closes with 1000 and exits 0 on SIGINT (Ctrl-C) while stdin is still open', async () => {
    const child = spawn(process.execPath, [MAIN, 'connect', `ws://127.0.0.1:${echo.port}/`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await withTimeout(
        new Promise<void>((resolve) => {
          child.stdout!.on('data', (chunk: Buffer) => {
            stdout += chunk.toString();
            if (stdout === 'open?\n') resolve();
          });
          child.stdin!.write('open?\n');
        }),
        5000,
        'the echo of a first line',
      );
      child.kill('SIGINT');
      assert.equal(await withTimeout(exited, 5000, 'connect to exit'), 0);
      assert.equal(stderr, '', 'a normal close asked for is not reported in a pipe');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('exits 3 with a reason when --wait runs out before a receive cycle completes', async () => {
    // Polls a minute apart: the poll that would carry the replies comes after --wait.
    const result = await run(['connect', '--transport', 'polling', '--interval', '60000', '--wait', '800ms', `${base}/`], 'one\n');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^hotline: --wait ran out \(0\.8 s\) before a receive cycle completed: replies may be missing\n$/);
    assert.ok(result.ms < 5000, `bounded by --wait (took ${result.ms} ms)`);
  });

  it('says ECONNREFUSED once, with the address, and exits 1, over every transport', async () => {
    const port = await freePort();
    const results = await Promise.all(TRANSPORTS.map((transport) => run(['connect', '--transport', transport, `http://127.0.0.1:${port}/`], 'never sent\n')));
    for (const [i, result] of results.entries()) {
      const transport = TRANSPORTS[i];
      assert.equal(result.code, 1, transport);
      assert.equal(result.stdout, '', transport);
      assert.match(result.stderr, new RegExp(`^error: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}( \\(HL_ERR_SOCKET\\))?\\n$`), transport);
    }
    const plain = await run(['connect', `localhost:${port}`]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, new RegExp(`^error: connect ECONNREFUSED [^ ]+:${port} \\(HL_ERR_SOCKET\\)\\n$`));
  });
});
