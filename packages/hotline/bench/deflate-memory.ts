/**
 * Memory per idle connection for permessage-deflate, by configuration.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/deflate-memory.js [N] [runs]
 *
 * Each measurement runs in a fresh process. It creates N server-side codecs, puts
 * traffic through each, lets them sit idle, collects garbage and divides the RSS growth
 * by N. Two kinds of traffic:
 *   "1 message"    each codec compressed one ~1.5 KiB JSON message and inflated one, so
 *                  both zlib contexts exist, as on a chat connection after its first
 *                  exchange;
 *   "50 messages"  fifty different messages each way (~75 KiB), enough to write through
 *                  every window size: the steady state of a busy connection.
 * RSS, not allocation, is what is measured: zlib's buffers only become resident as they
 * are written, and glibc serves zlib (which runs on the thread pool) from per-thread
 * arenas, so single runs vary; the median of several runs is shown.
 * Only the codec is measured: the connection itself (socket, parser, buffers) comes on
 * top and is the same in every row.
 *
 *   node --expose-gc dist/bench/deflate-memory.js --real [N] [runs]
 *
 * measures whole connections instead: a Hotline server in one process (with the
 * negotiation and codec plugged into its handshake), N `ws` clients in another, each
 * sending one message that the server echoes; the server's RSS growth / N.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

import { Server } from '../src/server/server.js';
import { parseExtensions } from '../src/protocol/extensions.js';
import { Side } from '../src/protocol/side.js';
import {
  negotiateServer,
  resolveDeflateOptions,
  type DeflateParams,
} from '../src/protocol/permessage-deflate.js';
import { PerMessageDeflate } from '../src/websocket/permessage-deflate.js';

interface Row {
  label: string;
  /** null: compression not negotiated, no codec at all. */
  bits: number | null;
  noContextTakeover: boolean;
  memLevel: number;
}

const ROWS: Row[] = [
  { label: 'off (not negotiated)', bits: null, noContextTakeover: false, memLevel: 5 },
  ...[9, 12, 15].map((bits) => ({ label: 'context takeover', bits, noContextTakeover: false, memLevel: 5 })),
  { label: 'context takeover (zlib defaults)', bits: 15, noContextTakeover: false, memLevel: 8 },
  ...[9, 12, 15].map((bits) => ({ label: 'no context takeover', bits, noContextTakeover: true, memLevel: 5 })),
];

/** Traffic per codec: how many messages each way. 0: negotiated but never used. */
const TRAFFIC = [0, 1, 50];

/** ~1.5 KiB JSON messages, over the default threshold, all different. */
function messages(count: number): Buffer[] {
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  return Array.from({ length: count }, () =>
    Buffer.from(
      JSON.stringify({
        type: 'history',
        room: 'lobby',
        items: Array.from({ length: 20 }, () => ({
          id: Math.floor(random() * 1e6),
          user: `user${Math.floor(random() * 900)}`,
          text: `message number ${Math.floor(random() * 1e5)}`,
          ts: 1700000000000 + Math.floor(random() * 1e9),
        })),
      }),
    ),
  );
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) collect();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function run(codec: PerMessageDeflate, op: 'compress' | 'decompress', data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec[op](data, (err, out) => (err ? reject(err) : resolve(out!))));
}

/** Bytes of RSS per codec, for one row and one traffic pattern. */
async function child(row: Row, traffic: number, n: number): Promise<number> {
  const params: DeflateParams | null =
    row.bits === null
      ? null
      : {
          serverNoContextTakeover: row.noContextTakeover,
          clientNoContextTakeover: row.noContextTakeover,
          serverMaxWindowBits: row.bits,
          clientMaxWindowBits: row.bits,
        };
  const options = { maxPayload: 1 << 20, memLevel: row.memLevel };
  const plain = messages(traffic);
  // The same messages as a client sends them: every connection's inflater sees the
  // same sequence, so one copy serves all.
  const compressed: Buffer[] = [];
  if (params !== null) {
    const peer = new PerMessageDeflate(params, Side.CLIENT, options);
    for (const m of plain) compressed.push(await run(peer, 'compress', m));
    peer.close();
  }
  await sleep(50);
  gc();
  const rss0 = process.memoryUsage().rss;

  const codecs: PerMessageDeflate[] = [];
  if (params !== null) {
    for (let i = 0; i < n; i++) codecs.push(new PerMessageDeflate(params, Side.SERVER, options));
    // Connections talk at the same time, as on a server, 100 at a time (the process-wide
    // limiter bounds the zlib jobs actually running).
    const talk = async (codec: PerMessageDeflate): Promise<void> => {
      for (let k = 0; k < traffic; k++) {
        await run(codec, 'compress', plain[k]!);
        await run(codec, 'decompress', compressed[k]!);
      }
    };
    for (let i = 0; i < n; i += 100) await Promise.all(codecs.slice(i, i + 100).map(talk));
  }
  await sleep(200);
  gc();
  const rss1 = process.memoryUsage().rss;
  if (codecs.length !== (params === null ? 0 : n)) throw new Error('lost codecs');
  return (rss1 - rss0) / n;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- Whole connections ------------------------------------------------------------------

type Message = { type: string; [key: string]: unknown };

function ask(child: ChildProcess, message: Message, reply: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Message): void => {
      if (m.type !== reply) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null): void => reject(new Error(`child exited with ${code} waiting for ${reply}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message.type !== '') child.send(message);
  });
}

/** The server process: Hotline with permessage-deflate plugged into its handshake. */
async function realServer(row: Row): Promise<void> {
  const server = new Server({ idleTimeout: 0 });
  let lastResponse = '';
  if (row.bits !== null) {
    const options = resolveDeflateOptions(
      {
        serverNoContextTakeover: row.noContextTakeover,
        clientNoContextTakeover: row.noContextTakeover,
        serverMaxWindowBits: row.bits,
        clientMaxWindowBits: row.bits,
        memLevel: row.memLevel,
      },
      Side.SERVER,
    );
    server.setExtensionNegotiator((offer, serverOptions) => {
      const agreed = negotiateServer(parseExtensions(offer), options);
      if (agreed === null) return { response: '', codec: null };
      lastResponse = agreed.response;
      const codec = new PerMessageDeflate(agreed.params, Side.SERVER, {
        maxPayload: serverOptions.options.maxPayload,
        memLevel: options.memLevel,
      });
      return { response: agreed.response, codec };
    });
  }
  server.route('*', {
    message(peer, data, isBinary) {
      peer.send(data, isBinary);
    },
  });
  const address = await server.listen(0, '127.0.0.1');
  let rss0 = 0;
  process.on('message', async (m: Message) => {
    if (m.type === 'baseline') {
      await sleep(100);
      gc();
      rss0 = process.memoryUsage().rss;
      process.send!({ type: 'baseline' });
    } else if (m.type === 'measure') {
      await sleep(300);
      gc();
      process.send!({
        type: 'measure',
        perConnection: (process.memoryUsage().rss - rss0) / Number(m.n),
        connections: server.connections,
        response: lastResponse,
      });
    }
  });
  process.send!({ type: 'listening', port: address.port });
}

/** The client process: N `ws` clients, each sending `traffic` messages and awaiting the echo. */
async function realClients(port: number): Promise<void> {
  const url = `ws://127.0.0.1:${port}/`;
  const connect = async (): Promise<WebSocket> => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    await once(ws, 'open');
    return ws;
  };
  const talk = async (ws: WebSocket, traffic: number, plain: Buffer[]): Promise<void> => {
    for (let k = 0; k < traffic; k++) {
      const echoed = once(ws, 'message');
      ws.send(plain[k]!);
      await echoed;
    }
  };
  const sockets: WebSocket[] = [];
  process.on('message', async (m: Message) => {
    const plain = messages(1);
    if (m.type === 'warm') {
      // Start the server's thread pool and first-use costs before its baseline.
      const ws = await connect();
      await talk(ws, 1, plain);
      ws.close();
      await once(ws, 'close');
      process.send!({ type: 'warm' });
    } else if (m.type === 'go') {
      const n = Number(m.n);
      const traffic = Number(m.traffic);
      for (let i = 0; i < n; i += 100) {
        const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, connect));
        await Promise.all(batch.map((ws) => talk(ws, traffic, plain)));
        sockets.push(...batch);
      }
      process.send!({ type: 'go' });
    }
  });
  process.send!({ type: 'ready' });
}

async function realMeasure(row: Row, traffic: number, n: number): Promise<{ perConnection: number; extensions: string }> {
  const self = fileURLToPath(import.meta.url);
  const server = fork(self, ['--real-server', JSON.stringify(row)], { execArgv: ['--expose-gc'] });
  const client = fork(self, ['--real-clients'], { execArgv: [] });
  try {
    const listening = await ask(server, { type: '' }, 'listening');
    await ask(client, { type: 'port', port: listening.port }, 'ready');
    await ask(client, { type: 'warm' }, 'warm');
    await ask(server, { type: 'baseline' }, 'baseline');
    await ask(client, { type: 'go', n, traffic }, 'go');
    const measured = await ask(server, { type: 'measure', n }, 'measure');
    if (measured.connections !== n) throw new Error(`expected ${n} connections, found ${String(measured.connections)}`);
    return { perConnection: Number(measured.perConnection), extensions: String(measured.response) };
  } finally {
    client.kill();
    server.kill();
  }
}

async function realMain(n: number, runs: number): Promise<void> {
  console.log(
    `permessage-deflate: server RSS per idle WebSocket connection (Hotline server, ws clients), ` +
      `N = ${n}, median of ${runs} runs, node ${process.version}\n`,
  );
  console.log('| configuration | window bits | memLevel | connected, no message | 1 message each way | server\'s answer to ws |');
  console.log('|---|---|---|---|---|---|');
  for (const row of ROWS) {
    const cells: string[] = [];
    let extensions = '';
    for (const traffic of [0, 1]) {
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) {
        const result = await realMeasure(row, traffic, n);
        samples.push(result.perConnection);
        extensions = result.extensions;
      }
      cells.push(kib(median(samples)));
    }
    const bits = row.bits === null ? '—' : String(row.bits);
    const memLevel = row.bits === null ? '—' : String(row.memLevel);
    console.log(`| ${row.label} | ${bits} | ${memLevel} | ${cells.join(' | ')} | \`${extensions || 'none'}\` |`);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--real-server') return realServer(JSON.parse(args[1]!) as Row);
  if (args[0] === '--real-clients') {
    const [{ port }] = (await once(process, 'message')) as [{ port: number }];
    return realClients(port);
  }
  if (args[0] === '--real') return realMain(Number(args[1] ?? 2000), Number(args[2] ?? 3));
  if (args[0] === '--child') {
    const perCodec = await child(JSON.parse(args[1]!) as Row, Number(args[2]), Number(args[3]));
    process.stdout.write(JSON.stringify(perCodec));
    return;
  }
  const n = Number(args[0] ?? 2000);
  const runs = Number(args[1] ?? 3);
  const self = fileURLToPath(import.meta.url);
  console.log(
    `permessage-deflate: RSS per idle connection (codec only), N = ${n}, median of ${runs} runs, ` +
      `node ${process.version}, zlib ${process.versions.zlib}\n`,
  );
  console.log('| configuration | window bits | memLevel | never used | 1 message each way | 50 messages each way |');
  console.log('|---|---|---|---|---|---|');
  for (const row of ROWS) {
    const cells: string[] = [];
    for (const traffic of TRAFFIC) {
      if (row.bits === null && traffic > 0) {
        cells.push('—');
        continue;
      }
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) {
        const out = execFileSync(
          process.execPath,
          ['--expose-gc', self, '--child', JSON.stringify(row), String(traffic), String(n)],
          { encoding: 'utf8' },
        );
        samples.push(JSON.parse(out) as number);
      }
      cells.push(kib(median(samples)));
    }
    const bits = row.bits === null ? '—' : String(row.bits);
    const memLevel = row.bits === null ? '—' : String(row.memLevel);
    console.log(`| ${row.label} | ${bits} | ${memLevel} | ${cells.join(' | ')} |`);
  }
}

await main();
