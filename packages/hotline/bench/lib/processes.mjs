// Child processes for the benchmark: free ports, the C load generator (built on
// first use), pinned peers, bounded waits, and cleanup on every way out.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

let cleanupInstalled = false;
/** Children die with the benchmark, however it ends. Installed on first spawn. */
function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAll();
      process.stderr.write(`\nbench: interrupted by ${sig}, children stopped\n`);
      process.exit(130);
    });
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` when `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(1)} s: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A port that was free a moment ago: bind port 0, read it, release it. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port, host) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(500, () => done(false));
  });
}

export function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Compiles bench/loadgen.c into bench/bin/loadgen (or into $HOTLINE_BENCH_BIN, which the
 * tests point at a temp directory) unless an up-to-date binary exists.
 */
export function ensureLoadgen(benchDir) {
  const src = path.join(benchDir, 'loadgen.c');
  const bin = path.join(process.env.HOTLINE_BENCH_BIN || path.join(benchDir, 'bin'), 'loadgen');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  const cc = process.env.CC || 'gcc';
  if (!which(cc)) throw new Error(`the load generator is C and needs ${cc} (install gcc, or set CC)`);
  mkdirSync(path.dirname(bin), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, bin); // atomic: a concurrent run sees the old or the new binary
  } finally {
    rmSync(tmp, { force: true });
  }
  return bin;
}

/** Wraps argv so that it runs pinned to `cpu` with the open-files limit raised. */
export function pinned(argv, cpu) {
  const pre = cpu == null ? [] : ['taskset', '-c', String(cpu)];
  return [
    'sh',
    '-c',
    // 10,000 connections need more descriptors than the usual default of 1024.
    'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
    'sh',
    ...pre,
    ...argv,
  ];
}

/**
 * Starts a peer and waits until its port accepts connections.
 * Returns { child, pid, stop(), request(msg) }; throws with the peer's stderr
 * when it exits or stays deaf.
 */
export async function startPeer(argv, { port, host = '127.0.0.1', cwd, cpu, timeoutMs = 15000 }) {
  const [cmd, ...args] = pinned(argv, cpu);
  installCleanup();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  live.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve(exited);
    });
  });
  child.on('error', (err) => keep(`spawn error: ${err.message}\n`));

  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`exited (${exited.code ?? exited.signal}) before listening: ${output.trim() || 'no output'}`);
    if (await tryConnect(port, host)) break;
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`not listening on ${host}:${port} after ${timeoutMs / 1000} s: ${output.trim() || 'no output'}`);
    }
    await sleep(50);
  }

  const pending = [];
  child.on('message', (m) => pending.shift()?.(m));
  return {
    child,
    pid: child.pid,
    output: () => output,
    alive: () => !exited,
    /** Sends an IPC message to the probe preloaded in the peer; null when it does not answer. */
    async request(msg, ms = 5000) {
      if (!child.connected) return null;
      const reply = new Promise((resolve) => pending.push(resolve));
      child.send(msg);
      try {
        return await withTimeout(reply, ms, 'peer probe');
      } catch {
        pending.length = 0;
        return null;
      }
    },
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      try {
        return await withTimeout(exit, 3000, 'peer exit');
      } catch {
        child.kill('SIGKILL');
        return withTimeout(exit, 3000, 'peer exit after SIGKILL');
      }
    },
  };
}

/** Resident set size of a process, from /proc/PID/status (bytes). */
export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

let clockTicks = null;
function ticksPerSecond() {
  if (clockTicks == null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * CPU seconds the whole machine has been busy so far, steal included (time
 * the hypervisor gave to someone else disturbs a run just as much).
 */
export function machineBusySeconds() {
  const t = cpuTicks();
  return t ? t.busy / ticksPerSecond() : NaN;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuOf(pid) {
  ticksPerSecond();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces; count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/**
 * Runs the load generator. `onEvent(obj)` sees every JSON line before the
 * last; resolves with the last JSON line (the result) and the handle.
 */
export function runLoadgen(bin, args, { cpu, timeoutMs, onEvent, keepStdin = false }) {
  const [cmd, ...rest] = pinned([bin, ...args], cpu);
  installCleanup();
  const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-2000);
  });
  if (!keepStdin) child.stdin.end();
  child.stdin.on('error', () => {});
  let last = null;
  const rl = readline.createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    if (!line.startsWith('{')) return;
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      return;
    }
    if (obj.event) onEvent?.(obj, child);
    else last = obj;
  });
  const done = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      live.delete(child);
      if (last) resolve(last);
      else reject(new Error(`load generator exited (${code ?? signal}) without a result: ${stderr.trim() || 'no output'}`));
    });
  });
  const timed = withTimeout(done, timeoutMs, `load generator ${args.join(' ')}`).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { child, result: timed };
}

function cpuTicks() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { busy: user + nice + system + irq + softirq + steal, all: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return null;
  }
}

/**
 * Waits, at most `maxWaitMs`, until the whole machine is nearly idle (busy
 * share of all CPUs below `threshold` over a 300 ms sample), so that a run does
 * not start while something else is using the CPUs. Returns the last busy share
 * and whether it was quiet.
 */
export async function waitQuiet({ maxWaitMs, threshold = 0.1 }) {
  const started = Date.now();
  let busy = NaN;
  for (;;) {
    const a = cpuTicks();
    await sleep(300);
    const b = cpuTicks();
    if (!a || !b) return { busy: NaN, quiet: true, waitedMs: 0 };
    busy = (b.busy - a.busy) / Math.max(1, b.all - a.all);
    const waitedMs = Date.now() - started;
    if (busy < threshold) return { busy, quiet: true, waitedMs };
    if (waitedMs >= maxWaitMs) return { busy, quiet: false, waitedMs };
  }
}
