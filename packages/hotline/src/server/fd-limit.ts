import { readFileSync } from 'node:fs';

/**
 * The process's soft limit on open file descriptors (RLIMIT_NOFILE), or null where it
 * cannot be read (Node has no getrlimit; Linux shows it in /proc). Every socket costs one;
 * past the limit the kernel refuses new ones, and libuv closes the connections it cannot
 * accept without telling anyone.
 */
export function fileDescriptorLimit(): number | null {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'latin1');
  } catch {
    return null;
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (match === null || match[1] === 'unlimited') return null;
  return Number(match[1]);
}

/**
 * How many connections a listener may hold within a descriptor limit: the rest is kept
 * for everything else the process opens (files, outgoing connections, a database, the
 * HTTP server's other sockets) — an eighth of the limit, and at least 64.
 */
export function connectionsWithin(limit: number): number {
  return Math.max(16, limit - Math.max(64, Math.floor(limit / 8)));
}
