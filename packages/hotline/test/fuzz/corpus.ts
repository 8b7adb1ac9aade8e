/**
 * A corpus on disk: one file per input, raw bytes, named by a hash of its content so
 * that the same input is never stored twice and names do not depend on the run. Files
 * named `regression-<what it guards>` are written by hand, replayed like the others and
 * never dropped by a merge, whatever coverage they add.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `test/fuzz/corpus/` in the source tree (this file runs from `dist/test/fuzz/`). */
export const CORPUS_ROOT = new URL('../../../test/fuzz/corpus/', import.meta.url);

export function entryName(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex').slice(0, 16);
}

export class Corpus {
  readonly dir: string;

  constructor(target: string, root: URL | string = CORPUS_ROOT) {
    this.dir = join(root instanceof URL ? root.pathname : root, target);
  }

  /** The stored inputs, in name order (so a run replays them in the same order). */
  load(which: 'all' | 'mergeable' = 'all'): Buffer[] {
    let names: string[];
    try {
      names = readdirSync(this.dir)
        .filter((name) => !name.startsWith('.') && (which === 'all' || !isRegression(name)))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.map((name) => readFileSync(join(this.dir, name)));
  }

  add(data: Uint8Array): string {
    mkdirSync(this.dir, { recursive: true });
    const name = entryName(data);
    writeFileSync(join(this.dir, name), data);
    return name;
  }

  /** Replaces the stored inputs with `entries` (after a merge); regressions stay. */
  replace(entries: readonly Uint8Array[]): void {
    const keep = new Set(entries.map((entry) => this.add(entry)));
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith('.') && !isRegression(name) && !keep.has(name)) unlinkSync(join(this.dir, name));
    }
  }
}

function isRegression(name: string): boolean {
  return name.startsWith('regression-');
}
