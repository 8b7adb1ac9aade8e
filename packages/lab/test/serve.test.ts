// `hotline serve` is this machine's unless told otherwise, and its banner says which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'hotline-lab.js');

/** Starts `serve` with `args`, returns its banner once the URL is printed, and stops it. */
async function banner(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    return await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no banner:\n${out}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ctrl-C')) {
          clearTimeout(timer);
          resolve(out);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

test('by default the lab listens on 127.0.0.1 only, and says how to share it', { timeout: 15_000 }, async () => {
  const text = await banner([]);
  assert.match(text, /^Hotline lab: http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(text, /Listening on 127\.0\.0\.1 only \(this machine\); --host 0\.0\.0\.0 to share it on the network\./);
});

test('--host 0.0.0.0 listens everywhere and the banner warns that the lab is shared', { timeout: 15_000 }, async () => {
  const text = await banner(['--host', '0.0.0.0']);
  assert.match(text, /Listening on every interface \(0\.0\.0\.0\): anyone who can reach this machine can open the lab/);
  assert.match(text, /shared stream, controls and counters/);
});
