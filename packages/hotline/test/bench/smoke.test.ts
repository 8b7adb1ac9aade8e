// The benchmark is not a timed test, but its smoke mode runs here so that the
// harness, the load generator and the peers cannot rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// dist/test/bench/ -> repository root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const hasGcc = spawnSync('sh', ['-c', 'command -v "${CC:-gcc}"']).status === 0;
const onLinux = os.platform() === 'linux';
// The load generator is built outside the checkout: a test leaves the tree as it found it.
process.env.HOTLINE_BENCH_BIN ??= path.join(os.tmpdir(), 'hotline-bench-bin');
const skip = !onLinux ? 'the benchmark needs Linux (epoll, /proc)' : !hasGcc ? 'the load generator needs gcc' : false;

interface Run {
  scenario: string;
  peer: string;
  ok: boolean;
  value: number;
  error?: string;
  loadgenIdle?: number;
  detail?: Record<string, unknown>;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    const timer = setTimeout(() => {
      child.kill('SIGTERM'); // the harness stops its children on SIGTERM
      reject(new Error(`timed out after ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('the benchmark in smoke mode measures every scenario for every peer', { timeout: 90_000, skip }, async () => {
  const hotline = existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'));
  const peers = [...(hotline ? ['hotline'] : []), 'ws', 'raw'];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hotline-bench-'));
  try {
    const json = path.join(dir, 'smoke.json');
    const { code, out } = await run(process.execPath, ['bench/run.mjs', '--smoke', '--quiet', '--peers', peers.join(','), '--json', json], 80_000);
    assert.ok(existsSync(json), `no JSON written:\n${out}`);
    const result = JSON.parse(readFileSync(json, 'utf8')) as { runs: Run[] };
    const failed = result.runs.filter((r) => !r.ok).map((r) => `${r.scenario}/${r.peer}: ${r.error}`);
    assert.deepEqual(failed, [], out);
    assert.equal(code, 0, out);

    const scenarios = ['echo-64', 'echo-16k', 'echo-1m', 'fanout', 'handshakes', 'idle-memory'];
    for (const scenario of scenarios) {
      for (const peer of peers) {
        if (peer === 'raw' && !scenario.startsWith('echo')) continue;
        const r = result.runs.find((x) => x.scenario === scenario && x.peer === peer);
        assert.ok(r, `${scenario}/${peer} was not run`);
        assert.ok(Number.isFinite(r.value), `${scenario}/${peer}: ${r.value}`);
        if (scenario === 'idle-memory') {
          assert.equal(r.detail?.open, 200, `${scenario}/${peer}: connections held`);
        } else {
          assert.ok(r.value > 0, `${scenario}/${peer}: no throughput`);
          assert.equal(r.detail?.ok, true, `${scenario}/${peer}: load generator result`);
          assert.equal(r.detail?.errors, 0, `${scenario}/${peer}: load generator errors`);
          assert.ok(typeof r.loadgenIdle === 'number' && r.loadgenIdle <= 1, `${scenario}/${peer}: idle share ${r.loadgenIdle}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the load generator reports a refused port and a non-101 answer as errors', { timeout: 30_000, skip }, async () => {
  const lib = (await import(pathToFileURL(path.join(root, 'bench', 'lib', 'processes.mjs')).href)) as {
    ensureLoadgen(dir: string): string;
    freePort(): Promise<number>;
  };
  const bin = lib.ensureLoadgen(path.join(root, 'bench'));
  const last = (out: string) => JSON.parse(out.trim().split('\n').pop() ?? '') as { ok: boolean; error: string; first_error: string };

  const closed = await lib.freePort();
  const refused = await run(bin, ['--mode', 'echo', '--port', String(closed), '--conns', '2', '--duration', '0.1'], 10_000);
  assert.equal(refused.code, 1);
  assert.equal(last(refused.out).ok, false);
  assert.match(last(refused.out).first_error, /refused/i);

  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (_req, socket) => {
    socket.on('error', () => {}); // the generator resets connections it gives up on
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const rejected = await run(bin, ['--mode', 'echo', '--port', String(port), '--conns', '2', '--duration', '0.1'], 10_000);
    assert.equal(rejected.code, 1);
    assert.match(last(rejected.out).first_error, /expected 101, got: HTTP\/1\.1 404/);
  } finally {
    server.close();
  }
});
