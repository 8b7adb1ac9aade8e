/**
 * Memory per idle connection for permessage-deflate, by configuration.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/deflate-memory.js [N]
 *
 * Each row runs in a fresh process. It creates N server-side codecs; "used" means each
 * has compressed one message and inflated one (so its zlib contexts exist, as on a chat
 * connection), then all sit idle. The figure is the RSS growth after GC divided by N.
 * Only the codec is measured: the connection itself (socket, parser, buffers) comes on
 * top and is the same in every row.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Side } from '../src/protocol/side.js';
import type { DeflateParams } from '../src/protocol/permessage-deflate.js';
import { PerMessageDeflate } from '../src/websocket/permessage-deflate.js';

interface Row {
  label: string;
  /** null: compression not negotiated, no codec at all. */
  bits: number | null;
  noContextTakeover: boolean;
  memLevel: number;
  use: boolean;
}

const ROWS: Row[] = [
  { label: 'off (not negotiated)', bits: null, noContextTakeover: false, memLevel: 5, use: false },
  { label: 'negotiated, never used', bits: 15, noContextTakeover: false, memLevel: 8, use: false },
  ...[9, 12, 15].map((bits) => ({ label: 'context takeover', bits, noContextTakeover: false, memLevel: 5, use: true })),
  { label: 'context takeover', bits: 15, noContextTakeover: false, memLevel: 8, use: true },
  ...[9, 12, 15].map((bits) => ({ label: 'no context takeover', bits, noContextTakeover: true, memLevel: 5, use: true })),
];

/** A ~2 KiB JSON message, over the default threshold, compressible like real traffic. */
function message(): Buffer {
  const items = Array.from({ length: 20 }, (_, i) => ({ id: 1000 + i, user: `user${i * 7}`, text: `message number ${i}`, ts: 1700000000000 + i }));
  return Buffer.from(JSON.stringify({ type: 'history', room: 'lobby', items }));
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) collect();
}

async function child(row: Row, n: number): Promise<{ perConnection: number; heap: number }> {
  const data = message();
  const params: DeflateParams | null =
    row.bits === null
      ? null
      : {
          serverNoContextTakeover: row.noContextTakeover,
          clientNoContextTakeover: row.noContextTakeover,
          serverMaxWindowBits: row.bits,
          clientMaxWindowBits: row.bits,
        };
  // The message as a client would send it; a fresh context compresses it the same way
  // for every connection, so one copy serves all.
  let compressed: Buffer | null = null;
  if (params !== null) {
    const peer = new PerMessageDeflate(params, Side.CLIENT, { maxPayload: 1 << 20, memLevel: row.memLevel });
    compressed = await new Promise<Buffer>((resolve, reject) =>
      peer.compress(data, (err, out) => (err ? reject(err) : resolve(out!))),
    );
    peer.close();
  }
  // Let the allocator settle before the baseline.
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;

  const codecs: PerMessageDeflate[] = [];
  for (let i = 0; i < n; i++) {
    if (params === null) break;
    const codec = new PerMessageDeflate(params, Side.SERVER, { maxPayload: 1 << 20, memLevel: row.memLevel });
    codecs.push(codec);
    if (row.use) {
      await new Promise<void>((resolve, reject) =>
        codec.compress(data, (err) => (err ? reject(err) : resolve())),
      );
      await new Promise<void>((resolve, reject) =>
        codec.decompress(compressed!, (err) => (err ? reject(err) : resolve())),
      );
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const rss1 = process.memoryUsage().rss;
  const heap1 = process.memoryUsage().heapUsed;
  if (codecs.length !== (params === null ? 0 : n)) throw new Error('lost codecs');
  // Keep them alive until measured.
  globalThis.process.env.KEEP = String(codecs.length);
  return { perConnection: (rss1 - rss0) / n, heap: (heap1 - heap0) / n };
}

/** zlib's documented estimate (zconf.h), for comparison: deflate + inflate state. */
function theory(row: Row): number {
  if (row.bits === null || !row.use) return 0;
  const w = row.bits === 8 ? 9 : row.bits;
  return 2 ** (w + 2) + 2 ** (row.memLevel + 9) + 2 ** row.bits + 7 * 1024;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const result = await child(JSON.parse(args[1]!) as Row, Number(args[2]));
    process.stdout.write(JSON.stringify(result));
    return;
  }
  const n = Number(args[0] ?? 2000);
  const self = fileURLToPath(import.meta.url);
  console.log(`permessage-deflate memory per idle connection, N = ${n}, node ${process.version}, zlib ${process.versions.zlib}`);
  console.log('(codec only: RSS growth after GC / N; a used connection has compressed and inflated one ~2 KiB message)\n');
  console.log('| configuration | window bits | memLevel | RSS per connection | JS heap per connection | zlib estimate |');
  console.log('|---|---|---|---|---|---|');
  for (const row of ROWS) {
    const out = execFileSync(process.execPath, ['--expose-gc', self, '--child', JSON.stringify(row), String(n)], {
      encoding: 'utf8',
    });
    const r = JSON.parse(out) as { perConnection: number; heap: number };
    const bits = row.bits === null ? '—' : String(row.bits);
    const memLevel = row.bits === null ? '—' : String(row.memLevel);
    const estimate = theory(row);
    console.log(
      `| ${row.label} | ${bits} | ${memLevel} | ${kib(r.perConnection)} | ${kib(r.heap)} | ${estimate ? kib(estimate) : '—'} |`,
    );
  }
}

await main();
