/**
 * The layers of the library, as docs/design.md draws them, checked on the sources: a
 * layer imports only the layers below it, `protocol/` imports nothing from Node but
 * `Buffer` and `crypto` primitives, the universal client (`browser/`, the `hotline/client`
 * entry) nothing from Node at all, and no file imports itself through a cycle.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/package/ -> the package's src/
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

/**
 * What each layer may import (itself included). `errors` and `types` are the two files at
 * the top of src/: the error tree and the server API's shapes.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  protocol: ['errors'],
  timers: ['errors', 'protocol'],
  resources: ['errors', 'protocol'],
  types: ['errors', 'protocol'],
  pubsub: ['errors', 'protocol', 'types'],
  websocket: ['errors', 'protocol', 'timers', 'resources', 'types', 'pubsub'],
  // An HTTP/2 stream as a shell's transport, and the HTTP/2 connections a server keeps.
  http2: ['errors', 'types', 'websocket'],
  client: ['errors', 'protocol', 'timers', 'resources', 'types', 'websocket', 'http2'],
  server: ['errors', 'protocol', 'timers', 'resources', 'types', 'websocket', 'pubsub', 'http2'],
  transports: ['errors', 'protocol', 'timers', 'resources', 'types', 'websocket', 'pubsub', 'server'],
  // The error tree is plain JavaScript (no Node): the client throws the same HotlineError.
  browser: ['errors', 'protocol'],
  // `echo --redis` loads the Redis engine, only when asked for (the redis package stays optional).
  cli: ['errors', 'protocol', 'types', 'client', 'server', 'transports', 'browser', 'redis'],
  redis: ['errors', 'protocol', 'types', 'pubsub'],
  index: ['errors', 'protocol', 'types', 'client', 'server', 'transports', 'browser', 'pubsub', 'websocket'],
};

/** Node modules `protocol/` may use: byte and hash primitives, no I/O. */
const PROTOCOL_NODE = new Set(['node:buffer', 'node:crypto']);

interface Source {
  readonly file: string; // relative to src/, with .ts
  readonly layer: string;
  readonly relative: string[]; // resolved .ts paths, relative to src/
  readonly bare: string[]; // node:* and packages
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return walk(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function layerOf(file: string): string {
  const [first] = file.split('/');
  return first!.endsWith('.ts') ? first!.slice(0, -3) : first!;
}

// Static imports and re-exports, type-only ones included: a type import is a dependency
// of the code's meaning even when it leaves no trace in the JavaScript.
const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

function read(full: string): Source {
  const file = path.relative(SRC, full).split(path.sep).join('/');
  const text = readFileSync(full, 'utf8');
  const relative: string[] = [];
  const bare: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = (match[1] ?? match[2])!;
    if (spec.startsWith('.')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      relative.push(target);
    } else {
      bare.push(spec);
    }
  }
  return { file, layer: layerOf(file), relative, bare };
}

const sources = walk(SRC).map(read);
const byFile = new Map(sources.map((s) => [s.file, s]));

describe('the layers of the library', () => {
  it('finds the sources', () => {
    assert.ok(sources.length > 50, `only ${sources.length} sources under ${SRC}`);
    for (const layer of Object.keys(ALLOWED)) {
      assert.ok(sources.some((s) => s.layer === layer), `no source in layer ${layer}`);
    }
  });

  it('lets every layer import only the layers below it', () => {
    const wrong: string[] = [];
    for (const source of sources) {
      const allowed = ALLOWED[source.layer];
      assert.ok(allowed !== undefined, `${source.file} is in no known layer (${source.layer})`);
      for (const target of source.relative) {
        const layer = layerOf(target);
        if (layer !== source.layer && !allowed.includes(layer)) wrong.push(`${source.file} -> ${target}`);
      }
    }
    assert.deepEqual(wrong, [], 'imports up or across the layers');
  });

  it('resolves every relative import to a source file', () => {
    const missing = sources.flatMap((s) => s.relative.filter((t) => !byFile.has(t)).map((t) => `${s.file} -> ${t}`));
    assert.deepEqual(missing, []);
  });

  it('keeps protocol/ free of Node but Buffer and crypto primitives', () => {
    const wrong = sources
      .filter((s) => s.layer === 'protocol')
      .flatMap((s) => s.bare.filter((b) => !PROTOCOL_NODE.has(b)).map((b) => `${s.file} -> ${b}`));
    assert.deepEqual(wrong, []);
  });

  it('keeps the universal client (hotline/client) free of Node and of packages', () => {
    const seen = new Set<string>();
    const wrong: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = byFile.get(file);
      if (source === undefined) return;
      for (const b of source.bare) wrong.push(`${file} -> ${b}`);
      for (const t of source.relative) visit(t);
    };
    visit('browser/index.ts');
    assert.ok(seen.size > 3, 'the client entry was not found');
    assert.deepEqual(wrong, []);
  });

  it('has no file that imports itself through a cycle', () => {
    // Tarjan's strongly connected components over the file graph.
    let index = 0;
    const stack: string[] = [];
    const on = new Set<string>();
    const indices = new Map<string, number>();
    const low = new Map<string, number>();
    const cycles: string[][] = [];
    const connect = (file: string): void => {
      indices.set(file, index);
      low.set(file, index);
      index++;
      stack.push(file);
      on.add(file);
      for (const target of byFile.get(file)?.relative ?? []) {
        if (!byFile.has(target)) continue;
        if (!indices.has(target)) {
          connect(target);
          low.set(file, Math.min(low.get(file)!, low.get(target)!));
        } else if (on.has(target)) {
          low.set(file, Math.min(low.get(file)!, indices.get(target)!));
        }
      }
      if (low.get(file) === indices.get(file)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          on.delete(member);
          component.push(member);
        } while (member !== file);
        const selfImport = byFile.get(file)!.relative.includes(file);
        if (component.length > 1 || selfImport) cycles.push(component.sort());
      }
    };
    for (const source of sources) if (!indices.has(source.file)) connect(source.file);
    assert.deepEqual(cycles, [], 'import cycles');
  });
});
