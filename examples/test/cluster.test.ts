/**
 * examples/cluster as its README runs it: Redis, three `hotline echo --redis` nodes and
 * nginx with the example's own nginx.conf (only its ports rewritten to free ones, its
 * paths under a temp prefix). Clients on WebSocket, long polling and SSE through nginx
 * hear each other, whichever node each request lands on. Without redis-server or nginx
 * the test is skipped, with the reason; with CI=true that is a failure.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { WebSocket, connect, type HotlineClient } from 'hotline';
import { once, opened } from './support.js';

const CONFIG = fileURLToPath(new URL('../../cluster/nginx.conf', import.meta.url));
const HOTLINE = path.join(path.dirname(createRequire(import.meta.url).resolve('hotline/package.json')), 'bin', 'hotline.js');

function missing(): string | undefined {
  const absent = ['redis-server', 'nginx'].filter((name) => spawnSync(name, ['-v']).error !== undefined);
  if (absent.length === 0) return undefined;
  const why = `${absent.join(' and ')} not installed (apt-get install -y redis-server nginx): the cluster example is not run`;
  if (process.env.CI === 'true') throw new Error(`${why} — and CI=true, so this is a failure`);
  return why;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Spawns `command` and resolves once something accepts TCP on `port`. */
async function serving(command: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`${command} did not listen on ${port} within 10 s: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(true)).once('error', () => resolve(false));
      socket.once('connect', () => socket.destroy());
    });
    if (up) return child;
  }
}

/** The next message's text on `client`. */
async function heard(client: EventTarget): Promise<string> {
  return String((await once<MessageEvent>(client, 'message')).data);
}

describe('examples/cluster: three nodes behind nginx on one Redis', { skip: missing(), timeout: 60_000 }, () => {
  const children: ChildProcess[] = [];
  const prefix = mkdtempSync(path.join(tmpdir(), 'hotline-cluster-example-'));
  let front = 0;

  before(async () => {
    const redisPort = await freePort();
    children.push(await serving('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], redisPort));
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    for (const port of ports) {
      const args = [HOTLINE, 'echo', '--port', String(port), '--host', '127.0.0.1', '--redis', `redis://127.0.0.1:${redisPort}`, '--advertise', `http://127.0.0.1:${port}`];
      children.push(await serving(process.execPath, args, port));
    }
    front = await freePort();
    // The example's config, with the ports of this run and no other change.
    let config = readFileSync(CONFIG, 'utf8').replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${front};`);
    ['9001', '9002', '9003'].forEach((port, i) => (config = config.replace(`server 127.0.0.1:${port};`, `server 127.0.0.1:${ports[i]};`)));
    assert.ok(!/:(8080|900[123]);/.test(config), 'every port of the example was rewritten');
    writeFileSync(path.join(prefix, 'nginx.conf'), config);
    children.push(await serving('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], front));
  });

  after(async () => {
    // SIGINT: nginx's master then stops its worker (a SIGKILL would leave
    // the worker running, holding the port and this process's stderr pipe).
    for (const child of children.reverse()) {
      const exited = new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(null)));
      child.kill('SIGINT'); // for `hotline echo`, a close with 1001 at once (SIGTERM would drain)
      await exited;
    }
    rmSync(prefix, { recursive: true, force: true });
  });

  it('relays /broadcast between WebSocket, long-polling and SSE clients, whichever node each request lands on', async () => {
    const url = `http://127.0.0.1:${front}/broadcast`;
    const clients: HotlineClient[] = (['websocket', 'long-polling', 'sse'] as const).map((transport) => connect(url, { transports: [transport], WebSocket: WebSocket as never }));
    try {
      await Promise.all(clients.map((client) => opened(client)));
      for (const [i, sender] of clients.entries()) {
        const all = Promise.all(clients.map((client) => heard(client)));
        sender.send(`from ${sender.transport} ${i}`);
        assert.deepEqual(await all, clients.map(() => `from ${sender.transport} ${i}`));
      }
    } finally {
      for (const client of clients) client.close();
    }
  });
});
