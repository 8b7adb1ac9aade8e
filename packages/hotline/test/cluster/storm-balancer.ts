/**
 * The reconnect-storm test's load balancer: an nginx that sends every connection to one
 * primary node while it answers, and to the backups (round-robin) once it does not — so
 * that all clients start on the primary, and all of them land on the others at once when
 * it dies. Its config, pid file and temp paths live in a temp dir; sized for 5,000
 * clients (two descriptors each: the client's and the upstream's).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/redis-server.js';

const BINARY = ['/usr/sbin/nginx', 'nginx'];

export class FailoverBalancer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(primary: number, backups: readonly number[]): Promise<FailoverBalancer> {
    const binary = BINARY.find((candidate) => spawnSync(candidate, ['-v']).status === 0);
    if (binary === undefined) throw new Error('nginx is not installed');
    const dir = mkdtempSync(path.join(tmpdir(), 'hotline-storm-nginx-'));
    for (const sub of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub));
    const port = await freePort();
    const config = `
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log crit;
events { worker_connections 16000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/client;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream nodes {
    server 127.0.0.1:${primary} max_fails=1 fail_timeout=120s;
${backups.map((p) => `    server 127.0.0.1:${p} backup;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://nodes;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
    }
  }
}
`;
    writeFileSync(path.join(dir, 'nginx.conf'), config);
    const child = spawn(binary, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 10 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new FailoverBalancer(child, dir, port);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
