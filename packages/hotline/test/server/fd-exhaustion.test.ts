/**
 * Out of file descriptors: `hotline echo` under a low descriptor limit, flooded with
 * connections that never speak, stays up, and a client that speaks gets through.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { wsClient, assertEchoes } from '../support/server.js';
import { delay, withTimeout } from '../support/timing.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const LIMIT = 128;
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

describe('fd exhaustion', { timeout: 30_000, skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' }, () => {
  let child: ChildProcess;
  let port: number;
  let exited: Promise<number | null>;
  const idle: net.Socket[] = [];

  before(async () => {
    child = spawn('prlimit', [`--nofile=${LIMIT}:${LIMIT}`, process.execPath, MAIN, 'echo', '--port', '0', '--host', '127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    port = await withTimeout(
      new Promise<number>((resolve) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk;
          const match = /:(\d+)\n/.exec(out);
          if (match) resolve(Number(match[1]));
        });
      }),
      10_000,
      'hotline echo to listen',
    );
  });

  after(async () => {
    for (const socket of idle) socket.destroy();
    child.kill('SIGTERM');
    await withTimeout(exited, 5000, 'hotline echo to exit');
  });

  it('survives a flood of silent connections past its descriptor limit, and lets a speaking client through', async () => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    for (let i = 0; i < LIMIT * 2; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      idle.push(socket);
    }
    await delay(500);
    assert.equal(child.exitCode, null, `hotline echo died: ${stderr}`);
    // Descriptors free up as the oldest silent connections are closed: a client that
    // speaks gets in within a few attempts.
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const ws = await wsClient(`ws://127.0.0.1:${port}/`);
        await assertEchoes(ws);
        ws.close();
        return;
      } catch (error) {
        lastError = error;
        await delay(200);
      }
    }
    assert.fail(`no client got through: ${String(lastError)}; ${stderr}`);
  });
});
