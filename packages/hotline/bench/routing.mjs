#!/usr/bin/env node
// What routing a session's requests through another node costs: long-poll round
// trips (POST a message, the held poll brings its echo back) sent to the owning node
// directly, and sent to another node that forwards them to the owner. Two node
// processes with a static directory (each knows the other's id and URL), the client
// in this process, rounds alternating direct and forwarded. Run by hand, after
// `npm run build`:
//
//     node bench/routing.mjs [--trips 2000] [--rounds 5] [--size 64]
//
// Prints p50, p99 and mean per path, in ms. The figures are in docs/transports.md.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const DIST = new URL('../dist/src/', import.meta.url);

if (process.argv[2] === '--node') await runNode(process.argv.slice(3));
else await main();

/** One node: an echo route on the long-polling transport, its peer in a static directory. */
async function runNode([id, port, peerId, peerPort]) {
  const { Server, MemoryEngine, enableHttpTransports } = await import(new URL('index.js', DIST).href);
  const urls = new Map([[peerId, `http://127.0.0.1:${peerPort}`]]);
  class StaticEngine extends MemoryEngine {
    instanceId = id;
    nodes = { advertise: (url) => urls.set(id, url), lookup: async (owner) => urls.get(owner) };
  }
  const server = new Server({ engine: new StaticEngine(), advertise: `http://127.0.0.1:${port}` });
  server.route('/echo', { message: (peer, data, isBinary) => peer.send(data, isBinary) });
  enableHttpTransports(server, { transports: ['long-polling'], hold: 25_000 });
  await server.listen(Number(port), '127.0.0.1');
  process.send('ready');
}

async function main() {
  const { values } = parseArgs({
    options: {
      trips: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '5' },
      size: { type: 'string', default: '64' },
    },
  });
  const trips = Number(values.trips);
  const rounds = Number(values.rounds);
  const payload = 'x'.repeat(Number(values.size));
  const { decodeBatch } = await import(new URL('protocol/session/wire.js', DIST).href);
  const [portA, portB] = [await freePort(), await freePort()];
  const nodes = [
    startNode(['benchNodeA01', portA, 'benchNodeB01', portB]),
    startNode(['benchNodeB01', portB, 'benchNodeA01', portA]),
  ];
  try {
    await Promise.all(nodes.map((child) => once(child, 'message')));
    const samples = { direct: [], forwarded: [] };
    for (let round = 0; round < rounds; round++) {
      for (const [path, port] of [['direct', portA], ['forwarded', portB]]) {
        // A session of its own per run, made on A: its requests go to `port`.
        const opened = await fetch(`http://127.0.0.1:${portA}/echo?transport=long-polling`);
        const sid = decodeBatch(new Uint8Array(await opened.arrayBuffer()), { allowOpen: true }).packets[0].handshake.sid;
        const base = `http://127.0.0.1:${port}/echo?transport=long-polling&sid=${sid}`;
        let up = 0;
        let down = 0;
        for (let i = 0; i < trips + 100; i++) {
          const start = process.hrtime.bigint();
          const poll = fetch(`${base}&ack=${down}`);
          up++;
          const posted = await fetch(`${base}&ack=${down}`, { method: 'POST', body: `${up};t${payload.length}:${payload}` });
          if (posted.status !== 204) throw new Error(`POST answered ${posted.status}: ${await posted.text()}`);
          const answer = await poll;
          const batch = decodeBatch(new Uint8Array(await answer.arrayBuffer()));
          if (batch.packets.length === 0) throw new Error('an empty poll: the echo did not come back');
          down = batch.firstSeq + batch.packets.length - 1;
          // The first 100 warm up the connections and the JIT.
          if (i >= 100) samples[path].push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        await fetch(`${base}&ack=${down}`, { method: 'POST', body: `${up + 1};c5:1000 ` });
      }
    }
    console.log(`long-poll round trips, ${rounds} x ${trips} per path, ${payload.length}-byte messages, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}`);
    console.log('path        p50 ms   p99 ms   mean ms');
    for (const [path, list] of Object.entries(samples)) {
      list.sort((x, y) => x - y);
      const at = (q) => list[Math.min(list.length - 1, Math.floor(q * list.length))];
      const mean = list.reduce((sum, value) => sum + value, 0) / list.length;
      console.log(`${path.padEnd(10)}  ${at(0.5).toFixed(3).padStart(7)}  ${at(0.99).toFixed(3).padStart(7)}  ${mean.toFixed(3).padStart(8)}`);
    }
  } finally {
    for (const child of nodes) child.kill();
  }
}

function startNode(args) {
  const child = spawn(process.execPath, [SELF, '--node', ...args.map(String)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') console.error(`node ${args[0]} exited: ${code ?? signal}`);
  });
  return child;
}

async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
