import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { ALL } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

describe('hotline echo and hotline connect --transport', () => {
  let echo: ChildProcess;
  let port = 0;

  before(async () => {
    echo = spawn(process.execPath, [MAIN, 'echo', '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      echo.stdout!.on('data', (chunk) => {
        out += chunk;
        const match = /:(\d+)\s*$/m.exec(out);
        if (match) resolve(Number(match[1]));
      });
      echo.on('exit', () => reject(new Error('echo exited')));
    });
  });
  after(() => {
    echo.kill('SIGTERM');
  });

  for (const transport of ALL) {
    it(`pipes lines through the echo server over ${transport}`, async () => {
      const result = await run(['connect', '--transport', transport, '--interval', '50', `http://127.0.0.1:${port}/any/path`], 'hello\nwörld\n\nlast line\n');
      assert.equal(result.stderr, '');
      assert.equal(result.stdout, 'hello\nwörld\n\nlast line\n');
      assert.equal(result.code, 0);
    });
  }

  it('relays /broadcast between clients of different transports', async () => {
    const listener = spawn(process.execPath, [MAIN, 'connect', '--transport', 'long-polling', `http://127.0.0.1:${port}/broadcast`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let heard = '';
    const waiting: Array<{ text: string; resolve: () => void }> = [];
    listener.stdout!.on('data', (chunk) => {
      heard += chunk;
      for (const w of waiting.filter((w) => heard.includes(w.text))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    });
    const hears = (text: string) => (heard.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ text, resolve })));
    // The listener has joined when its own hello comes back through the broadcast.
    listener.stdin!.write('listener here\n');
    await hears('listener here');
    const result = await run(['connect', '--transport', 'sse', `http://127.0.0.1:${port}/broadcast`], 'to everyone\n');
    assert.equal(result.code, 0);
    await hears('to everyone');
    listener.stdin!.end();
    await new Promise((resolve) => listener.on('exit', resolve));
    assert.equal(heard, 'listener here\nto everyone\n');
  });

  it('refuses an unknown transport name with a usage error', async () => {
    const result = await run(['connect', '--transport', 'smoke-signals', `http://127.0.0.1:${port}/`], '');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--transport must be one of websocket, sse, long-polling, polling, interval-polling/);
  });
});
