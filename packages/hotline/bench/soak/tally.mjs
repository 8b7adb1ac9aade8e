// What the clients of one process saw, per kind of client, as plain numbers that the
// soak adds up across processes. "Unexpected" is anything the kind's contract does not
// allow (see README "Soak"); notes keep the first few of them, with when and which.

import { monitorEventLoopDelay } from 'node:perf_hooks';

const MAX_NOTES = 20;
// ms: a client process's stalls that matter are the ones near a second (they make it
// reuse keep-alive connections the server is closing); a coarse timer is enough.
const LOOP_DELAY_RESOLUTION = 20;

/** Counters of one kind of client. Maps are `{ key: count }` (close codes, error codes). */
function emptyCounts() {
  return {
    // connections: opened, currently open, attempts refused or failed before opening
    opened: 0,
    open: 0,
    connectFailed: 0,
    // ends: the ones the client asked for (or its kind allows), and the others
    closedExpected: {},
    closedUnexpected: {},
    // errors reported by the client code (universal client `error` events, bad frames);
    // a request that failed on the network (the connection closed or reset under it) is
    // transient: the client retries it, and if it gives up a close follows
    errors: {},
    transientErrors: {},
    // HTTP requests that failed and were retried (the universal client's `reconnecting`),
    // and why requests failed (by cause: a status, undici's error code, a timeout)
    retries: 0,
    requestFailures: {},
    // traffic
    sent: 0,
    received: 0,
    echoOk: 0,
    echoBad: 0,
    echoLate: 0,
    gaps: 0,
    missed: 0,
    disorder: 0,
    // publishes a slow reader did not get while it was not reading (allowed: 'dropped')
    skipped: 0,
    // stalled readers at the end: dropped by the server meanwhile, or still open
    droppedByServer: 0,
    stillOpen: 0,
    // churn: connections that lived and left
    cycles: 0,
  };
}

export class Tally {
  kinds = {};
  notes = [];
  started = Date.now();

  of(kind) {
    return (this.kinds[kind] ??= emptyCounts());
  }

  add(kind, field, n = 1) {
    this.of(kind)[field] += n;
  }

  bump(kind, field, key) {
    const map = this.of(kind)[field];
    map[key] = (map[key] ?? 0) + 1;
  }

  /** An unexpected event worth reading: the first MAX_NOTES are kept. */
  note(kind, text) {
    if (this.notes.length < MAX_NOTES) this.notes.push(`${((Date.now() - this.started) / 1000).toFixed(1)} s ${kind}: ${text}`);
  }

  lastCpu = process.cpuUsage();
  lastAt = performance.now();
  loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION });

  constructor() {
    this.loopDelay.enable();
  }

  /** The counts so far, and this process's CPU share (of one core) since the last snapshot. */
  snapshot() {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const share = (cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const eldMax = Math.max(0, this.loopDelay.max / 1e6 - LOOP_DELAY_RESOLUTION);
    this.loopDelay.reset();
    return { kinds: structuredClone(this.kinds), notes: [...this.notes], cpu: share, rss: process.memoryUsage.rss(), eldMax };
  }
}

/** Adds snapshots (of several processes) into one. */
export function mergeTallies(snapshots) {
  const kinds = {};
  const notes = [];
  for (const snap of snapshots) {
    if (!snap) continue;
    notes.push(...snap.notes);
    for (const [kind, counts] of Object.entries(snap.kinds)) {
      const into = (kinds[kind] ??= emptyCounts());
      for (const [field, value] of Object.entries(counts)) {
        if (typeof value === 'number') into[field] += value;
        else for (const [key, n] of Object.entries(value)) into[field][key] = (into[field][key] ?? 0) + n;
      }
    }
  }
  const answered = snapshots.filter(Boolean);
  return {
    kinds,
    notes: notes.slice(0, MAX_NOTES * 2),
    cpu: answered.reduce((a, s) => a + (s.cpu ?? 0), 0),
    rss: answered.reduce((a, s) => a + (s.rss ?? 0), 0),
    eldMax: answered.reduce((a, s) => Math.max(a, s.eldMax ?? 0), 0),
  };
}

const sum = (map) => Object.values(map).reduce((a, b) => a + b, 0);

/** The totals over every kind: what the table and the verdict show. */
export function totals(merged) {
  const t = emptyCounts();
  for (const counts of Object.values(merged.kinds)) {
    for (const [field, value] of Object.entries(counts)) {
      if (typeof value === 'number') t[field] += value;
      else for (const [key, n] of Object.entries(value)) t[field][key] = (t[field][key] ?? 0) + n;
    }
  }
  return {
    ...t,
    unexpectedCloses: sum(t.closedUnexpected),
    errorCount: sum(t.errors),
    transientCount: sum(t.transientErrors),
    expectedCloses: sum(t.closedExpected),
  };
}
