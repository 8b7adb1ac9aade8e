// `hotline bench transports` with tiny numbers: the harness, the report and its charts
// cannot rot. Not a measurement: the numbers are only checked for sense.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../src/bench.js';
import { LAB_TRANSPORTS } from '../src/palette.js';

// dist/test/ -> the lab package
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'bin', 'hotline-lab.js');

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('bench transports runs every transport and writes the report', { timeout: 60_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'hotline-bench-transports-'));
  try {
    const { code, stdout, stderr } = await run(
      ['bench', 'transports', '--clients', '3', '--rate', '5', '--duration', '1.5', '--warmup', '0.5', '--interval', '200', '--out', out],
      55_000,
    );
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    // Progress goes to stderr (one line per phase when it is not a terminal), the table to stdout.
    assert.match(stderr, /WebSocket \(1\/5\): measuring/);
    for (const label of ['WebSocket', 'SSE', 'Long polling', 'Short polling', 'Interval (Ajax) polling']) {
      assert.match(stdout, new RegExp(`^${label.replace(/[()]/g, '\\$&')}\\s`, 'm'), `table row for ${label}`);
    }
    assert.match(stdout, /requests\s+empty responses\s+wire bytes/);

    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as BenchResult;
    assert.deepEqual(result.results.map((r) => r.transport), [...LAB_TRANSPORTS]);
    for (const r of result.results) {
      assert.equal(r.connected, 3, `${r.transport} connected`);
      assert.ok(r.published > 0, `${r.transport} published`);
      assert.equal(r.delivered, r.expected, `${r.transport}: ${r.delivered} of ${r.expected}`);
      assert.ok(r.perMessage.bytes > result.options.size, `${r.transport}: wire bytes include the payload and more`);
      assert.ok(r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99);
      assert.ok(r.serverCpuMs > 0, `${r.transport}: server CPU measured`);
      assert.ok(r.setupMs.count === 3);
    }
    const ws = result.results[0]!;
    assert.equal(ws.requests, 0, 'no HTTP request in steady state over WebSocket');
    const polling = result.results.find((r) => r.transport === 'polling')!;
    assert.ok(polling.requests > 0 && polling.bytesPerRequest > 100);

    const report = readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.match(report, /^# Hotline transports bench/m);
    assert.match(report, /\| WebSocket \|/);
    for (const chart of ['requests-per-message.svg', 'bytes-per-message.svg', 'latency.svg', 'cpu-per-1000.svg']) {
      assert.ok(report.includes(`](${chart})`), `report links ${chart}`);
      const svg = readFileSync(path.join(out, chart), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.ok(svg.includes('#009E73'), `${chart}: WebSocket in its colour`);
    }
  } finally {
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  }
});

test('bench transports refuses bad numbers with a usage error', async () => {
  const { code, stderr } = await run(['bench', 'transports', '--clients', '0'], 10_000);
  assert.equal(code, 2);
  assert.match(stderr, /--clients must be between 1 and 10,000/);
  const unknown = await run(['bench', 'transports', '--transports', 'carrier-pigeon'], 10_000);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown transport "carrier-pigeon"/);
});
