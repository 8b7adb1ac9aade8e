import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The universal client must bundle for a browser: nothing reachable from its entry point
 * may import Node (`node:*`, a bare package) or use Node's globals, and it may reach only
 * the sans-I/O protocol code and its own folder. Walks the compiled graph from
 * dist/src/browser/index.js (and drivers.js), following every static and dynamic import.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/test/browser -> dist/src
const src = path.resolve(here, '..', '..', 'src');
/** The client's entry point, and the drivers' (for owners with their own I/O, such as the lab's clients). */
const ENTRIES = [path.join(src, 'browser', 'index.js'), path.join(src, 'browser', 'drivers.js')];
/** Its folder, the sans-I/O protocol code, and the error tree (plain JavaScript, no Node). */
const ALLOWED = [path.join(src, 'browser') + path.sep, path.join(src, 'protocol') + path.sep, path.join(src, 'errors.js')];
const IMPORT = /(?:^|[;\s])(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
/** Node's globals, used as code (comments are stripped first). */
const NODE_GLOBAL = /\b(?:Buffer|process|require|__dirname|__filename|setImmediate)\s*[.(]/;

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function walk(): { files: string[]; problems: string[] } {
  const seen = new Set<string>();
  const problems: string[] = [];
  const queue = [...ENTRIES];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const relative = path.relative(src, file);
    if (!ALLOWED.some((dir) => file.startsWith(dir))) problems.push(`${relative}: outside browser/, protocol/ and errors.js`);
    const code = stripComments(readFileSync(file, 'utf8'));
    if (NODE_GLOBAL.test(code)) problems.push(`${relative}: uses a Node global (${NODE_GLOBAL.exec(code)![0]})`);
    for (const match of code.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith('.')) {
        problems.push(`${relative}: imports ${specifier}`);
        continue;
      }
      queue.push(path.resolve(path.dirname(file), specifier));
    }
  }
  return { files: [...seen].map((f) => path.relative(src, f)).sort(), problems };
}

test('nothing reachable from the browser entry point imports Node or leaves browser/, protocol/ and errors.js', () => {
  const { files, problems } = walk();
  assert.deepEqual(problems, []);
  // The walk did follow the graph: the facade, a driver and the session core are in it.
  for (const file of ['browser/client.js', 'browser/drivers.js', 'browser/session-driver.js', 'protocol/session/client-session.js', 'protocol/session/wire.js']) {
    assert.ok(files.includes(file), `${file} reached (got ${files.join(', ')})`);
  }
});

test('the walk catches what it must refuse', () => {
  const code = stripComments("import http from 'node:http';\n// Buffer.from in a comment\nconst x = Buffer.from('a');");
  assert.deepEqual([...code.matchAll(IMPORT)].map((m) => m[1]), ['node:http']);
  assert.ok(NODE_GLOBAL.test(code));
  assert.ok(!NODE_GLOBAL.test(stripComments('// Buffer.from only in a comment\n/* process.env */')));
});
