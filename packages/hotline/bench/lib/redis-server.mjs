// A redis-server of the benchmark's own on a free 127.0.0.1 port, its config in a temp
// dir, no persistence; and its command counts (`INFO commandstats`), read over one raw
// RESP exchange so that reading them adds exactly one INFO call, which is left out.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

function request(port, command) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error(`redis on ${port}: no answer to ${command}`)); });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d) => {
      text += d;
      const m = /^\$(\d+)\r\n/.exec(text);
      if ((m && Buffer.byteLength(text) >= m[0].length + Number(m[1]) + 2) || (!m && text.includes('\r\n') && text[0] !== '$')) {
        socket.destroy();
        resolve(text);
      }
    });
  });
}

export async function startRedis(port) {
  const dir = mkdtempSync(path.join(tmpdir(), 'hotline-bench-redis-'));
  const conf = path.join(dir, 'redis.conf');
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', 'daemonize no', 'loglevel warning', 'logfile ""'].join('\n') + '\n');
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await request(port, 'PING')).startsWith('+PONG')) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port} within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: `redis://127.0.0.1:${port}`,
    /** Calls per command so far, INFO itself left out. */
    async commandStats() {
      const text = await request(port, 'INFO commandstats');
      const calls = {};
      for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') calls[m[1]] = Number(m[2]);
      return calls;
    },
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** b − a, per command, only those that changed. */
export function statsDelta(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}
