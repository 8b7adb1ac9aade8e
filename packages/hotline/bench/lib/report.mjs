// Medians, ratios, the machine description and the Markdown report.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The installed version of `name`, as Node resolves it from `root` (a workspace hoists it up). */
function packageVersion(root, name) {
  for (let dir = root; ; dir = path.dirname(dir)) {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      if (path.dirname(dir) === dir) return 'missing';
    }
  }
}

export function machineInfo(root) {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux: keep what os.cpus() says
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  return {
    host: os.hostname(),
    cpuModel,
    cores: os.availableParallelism(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
    versions: {
      ws: packageVersion(root, 'ws'),
      bufferutil: packageVersion(root, 'bufferutil'),
      uws: packageVersion(root, '@trufflesuite/uws-js-unofficial'),
    },
  };
}

export function fmt(v) {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function pct(v) {
  return Number.isFinite(v) ? `${Math.round(v * 100)}%` : '–';
}

function ratio(v) {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '–';
}

/** Per scenario and peer: the median, spread and ratios over successful runs. */
export function summarize(runs, scenarioIds, peerIds, SCENARIOS) {
  const out = {};
  for (const sid of scenarioIds) {
    out[sid] = {};
    for (const pid of peerIds) {
      const mine = runs.filter((r) => r.scenario === sid && r.peer === pid);
      if (mine.length === 0) continue;
      const ok = mine.filter((r) => r.ok);
      // Runs that other work disturbed even after retries count only when
      // there is nothing better.
      const clean = ok.filter((r) => !r.disturbed);
      const good = clean.length > 0 ? clean : ok;
      const values = good.map((r) => r.value);
      out[sid][pid] = {
        runs: mine.length,
        ok: ok.length,
        used: good.length,
        median: median(values),
        min: values.length ? Math.min(...values) : NaN,
        max: values.length ? Math.max(...values) : NaN,
        serverCpu: median(good.map((r) => r.serverCpu).filter(Number.isFinite)),
        loadgenIdle: median(good.map((r) => r.loadgenIdle).filter(Number.isFinite)),
        otherLoad: median(good.map((r) => r.otherLoad).filter(Number.isFinite)),
        loadgenIdleMin: Math.min(...good.map((r) => r.loadgenIdle).filter(Number.isFinite)),
        errors: mine.filter((r) => !r.ok).map((r) => r.error),
      };
    }
    const ws = out[sid].ws?.median;
    const raw = out[sid].raw?.median;
    for (const s of Object.values(out[sid])) {
      s.vsWs = s.median / ws;
      s.vsRaw = SCENARIOS[sid].kind === 'echo' || SCENARIOS[sid].kind === 'handshake' ? s.median / raw : NaN;
    }
  }
  return out;
}

function targetText(t) {
  const parts = [];
  const cmp = t.lowerIsBetter ? '<=' : '>=';
  if (t.target.ws != null) parts.push(`${cmp} ${t.target.ws}x ws`);
  if (t.target.raw != null) parts.push(`${cmp} ${t.target.raw}x raw`);
  return parts.join(', ');
}

/**
 * Where the generator ran out of room, the rate measures the generator, not the fastest
 * peer. What each peer's CPU did per second of its own time still compares them: rate ÷
 * server CPU share (a peer at 100% is the same either way).
 */
function perServerCpu(summary, SCENARIOS, peers, scenarioIds, peerIds) {
  const L = [];
  for (const sid of scenarioIds) {
    const rows = peerIds.map((pid) => [pid, summary[sid]?.[pid]]).filter(([, s]) => s && s.ok > 0 && s.serverCpu > 0);
    if (!rows.some(([, s]) => s.loadgenIdle < 0.1)) continue;
    const perCpu = Object.fromEntries(rows.map(([pid, s]) => [pid, s.median / Math.min(1, s.serverCpu)]));
    L.push('');
    L.push(`In \`${sid}\` the generator was saturated; per second of server CPU (median ÷ server CPU share, up to one CPU):`);
    L.push('');
    L.push(`| peer | ${SCENARIOS[sid].unit} per CPU-second | x ws |`);
    L.push('|---|---:|---:|');
    for (const [pid] of rows) {
      L.push(`| ${peers[pid].label} | ${fmt(perCpu[pid])} | ${perCpu.ws ? ratio(perCpu[pid] / perCpu.ws) : '–'} |`);
    }
  }
  return L;
}

export function renderReport({ summary, runs, SCENARIOS, peers, scenarioIds, peerIds, unavailable, meta, settings }) {
  const L = [];
  L.push(`# Hotline benchmark — ${meta.date}`);
  L.push('');
  L.push(`- Machine: ${meta.machine.cpuModel}, ${meta.machine.cores} cores, ${meta.machine.memory}, ${meta.machine.kernel} (host ${meta.machine.host})`);
  L.push(`- Node ${meta.machine.node}; ws ${meta.machine.versions.ws}, bufferutil ${meta.machine.versions.bufferutil}, uWebSockets.js ${meta.machine.versions.uws}; Hotline commit ${meta.machine.commit}`);
  L.push(`- Command: \`${meta.command}\``);
  L.push(
    `- ${settings.smoke ? 'SMOKE MODE (tiny loads; numbers mean nothing). ' : ''}Rounds: ${settings.rounds}, duration ${settings.duration} s after ${settings.warmup} s warm-up; ` +
      (settings.serverCpu == null ? 'not pinned' : `server pinned to CPU ${settings.serverCpu}, load generator to CPU ${settings.loadgenCpu}`),
  );
  L.push(`- Wall time: ${meta.elapsed.toFixed(0)} s`);
  const disturbed = runs.filter((r) => r.disturbed).length;
  const retried = runs.reduce((n, r) => n + (r.attempts ?? 1) - 1, 0);
  if (retried) L.push(`- ${retried} run(s) were repeated because other work used the CPUs meanwhile`);
  if (disturbed) L.push(`- **${disturbed} of ${runs.length} runs were still disturbed by other work** (other load above 15% of a CPU); their numbers are less reliable`);
  for (const [pid, why] of Object.entries(unavailable)) L.push(`- **${peers[pid]?.label ?? pid}: unavailable** — ${why}`);
  L.push('');
  L.push(`Medians of ${settings.rounds} round(s); n: runs in the median (runs disturbed by other work are left out when there are others). "x ws" and "x raw" divide by the ws and raw medians. Server CPU: the peer's CPU time over the measured window (above 100% when its helper threads work too); loadgen idle: 1 − generator CPU / wall (the generator kept up while this stays well above 0); other load: CPU used by everything else on the machine meanwhile, in % of one CPU.`);
  L.push('');
  L.push('| scenario | peer | median | min – max | n | x ws | x raw | server CPU | loadgen idle | other load |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  let saturated = false;
  for (const sid of scenarioIds) {
    const sc = SCENARIOS[sid];
    for (const pid of peerIds) {
      const s = summary[sid]?.[pid];
      if (!s) continue;
      const name = `${sid}${sc.lowerIsBetter ? ' (lower is better)' : ''}`;
      if (s.ok === 0) {
        L.push(`| ${name} | ${peers[pid].label} | failed | | ${s.runs} | | | | | |`);
        continue;
      }
      // The generator had (almost) no room left: the peer may well be faster.
      const bound = s.loadgenIdle < 0.1 ? '≥ ' : '';
      if (bound) saturated = true;
      L.push(
        `| ${name} | ${peers[pid].label} | ${bound}${fmt(s.median)} ${sc.unit} | ${fmt(s.min)} – ${fmt(s.max)} | ${s.used} | ${ratio(s.vsWs)} | ${ratio(s.vsRaw)} | ${pct(s.serverCpu)} | ${sc.kind === 'idle' ? '–' : pct(s.loadgenIdle)} | ${pct(s.otherLoad)} |`,
      );
    }
  }
  if (saturated) {
    L.push('');
    L.push('≥: the load generator was saturated (idle below 10%), so this peer may be faster than shown.');
    L.push(...perServerCpu(summary, SCENARIOS, peers, scenarioIds, peerIds));
  }
  L.push('');
  L.push('## Hotline against its targets');
  L.push('');
  if (unavailable.hotline || !peerIds.includes('hotline')) {
    L.push(`Not measured${unavailable.hotline ? `: ${unavailable.hotline}` : ''}.`);
  } else {
    L.push('| scenario | target | Hotline | met |');
    L.push('|---|---|---|---|');
    for (const sid of scenarioIds) {
      const sc = SCENARIOS[sid];
      const s = summary[sid]?.hotline;
      if (!s) continue;
      const got = [];
      let met = s.ok > 0;
      for (const [base, want] of Object.entries(sc.target)) {
        const r = base === 'ws' ? s.vsWs : s.vsRaw;
        got.push(`${ratio(r)} ${base}`);
        if (!Number.isFinite(r)) met = false;
        else if (sc.lowerIsBetter ? r > want : r < want) met = false;
      }
      L.push(`| ${sid} | ${targetText({ ...sc, target: sc.target })} | ${got.join(', ')} | ${met ? 'yes' : '**no**'} |`);
    }
  }
  const failures = runs.filter((r) => !r.ok);
  if (failures.length) {
    L.push('');
    L.push('## Failed runs');
    L.push('');
    for (const f of failures) L.push(`- ${f.scenario} / ${peers[f.peer].label} / round ${f.round + 1}: ${f.error}`);
  }
  L.push('');
  L.push('## Scenarios');
  L.push('');
  for (const sid of scenarioIds) L.push(`- \`${sid}\`: ${SCENARIOS[sid].title} (${JSON.stringify(settings.smoke ? SCENARIOS[sid].smoke : SCENARIOS[sid].full)})`);
  L.push('');
  return L.join('\n');
}
