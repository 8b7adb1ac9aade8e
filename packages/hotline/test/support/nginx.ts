/**
 * An nginx of a test's own: a plain round-robin load balancer (no affinity, no retries on
 * another node) on a free 127.0.0.1 port in front of the given upstream ports, with its
 * config, pid file and temp paths in a temp dir. WebSocket upgrades pass through; proxy
 * buffering is off so long polls and SSE streams flow as they are written. Without the
 * binary, `nginxMissing` says why (a failure under CI=true).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './redis-server.js';

const BINARY = ['/usr/sbin/nginx', 'nginx'];

function binary(): string | undefined {
  return BINARY.find((candidate) => spawnSync(candidate, ['-v']).status === 0);
}

export function nginxMissing(): string | undefined {
  if (binary() !== undefined) return undefined;
  const why = 'nginx is not installed (apt-get install -y nginx): the load-balancer tests are skipped';
  if (process.env.CI === 'true') throw new Error(`${why} — and CI=true, so this is a failure`);
  return why;
}

export interface NginxOptions {
  /** The first upstream is the primary, the others backups that take over when it fails. */
  failover?: boolean;
  /** Client connections to be ready for. Default 2,000. */
  connections?: number;
}

export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {}

  /**
   * Round-robin over `upstreams`; or, with `failover`, every connection to the primary
   * while it answers and to the backups (round-robin) once it does not — so that all
   * clients start on one node and all land on the others at once when it dies. Sized for
   * `connections` clients.
   */
  static async start(upstreams: readonly number[], options: NginxOptions = {}): Promise<Nginx> {
    const dir = mkdtempSync(path.join(tmpdir(), 'hotline-nginx-'));
    for (const sub of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub));
    const port = await freePort();
    const connections = options.connections ?? 2_000;
    // Each client holds two (its own and the upstream one), and a storm overlaps the
    // closing connections with the new ones: room for three each.
    const workerConnections = 3 * connections + 1_000;
    const servers = options.failover
      ? [`    server 127.0.0.1:${upstreams[0]} max_fails=1 fail_timeout=120s;`, ...upstreams.slice(1).map((p) => `    server 127.0.0.1:${p} backup;`)]
      : upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=0;`);
    const config = `
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile ${workerConnections + 1_000};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log ${options.failover ? 'crit' : 'warn'};
events { worker_connections ${workerConnections}; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/client;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream nodes {
${servers.join('\n')}
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
      proxy_request_buffering off;
      proxy_read_timeout 120s;
      # Round-robin: never a second node for one request (a POST must not apply twice).
      # Failover: a connection the dead primary refused goes to a backup.
      proxy_next_upstream ${options.failover ? 'error timeout' : 'off'};
    }
  }
}
`;
    writeFileSync(path.join(dir, 'nginx.conf'), config);
    const child = spawn(binary()!, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 10 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new Nginx(child, dir, port);
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
