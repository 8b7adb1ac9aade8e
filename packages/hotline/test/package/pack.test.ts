/**
 * What `npm install hotline` downloads: `npm pack --dry-run` of the library package lists
 * the compiled library, its typings, the browser bundle and the CLI, and nothing of the
 * lab, the tests or the benchmark. Its `exports` resolve to files that are in the tarball.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface PackResult {
  files: Array<{ path: string; size: number }>;
  size: number;
  unpackedSize: number;
}

function pack(): PackResult {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // --ignore-scripts: the package is built already (npm test builds first).
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE, encoding: 'utf8' });
  return (JSON.parse(out) as PackResult[])[0]!;
}

describe('the library package (npm pack)', () => {
  const result = pack();
  const files = result.files.map((f) => f.path);

  it('holds the library, its typings, the browser bundle and the CLI', () => {
    for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/browser/index.js', 'dist/src/browser/index.d.ts', 'dist/src/cli/main.js', 'dist/browser/hotline.js']) {
      assert.ok(files.includes(file), `${file} is not in the package`);
    }
  });

  it('holds no lab, no tests, no benchmark, no source maps of the tests', () => {
    const wrong = files.filter((f) => /(^|\/)(lab|web|test|bench|scripts)(\/|$)|uplot|\.test\.|\.tsbuildinfo$/i.test(f));
    assert.deepEqual(wrong, []);
  });

  it('resolves every export to a file in the package', () => {
    const manifest = JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
      bin: Record<string, string>;
    };
    const targets = Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
    targets.push(...Object.values(manifest.bin));
    for (const target of targets) assert.ok(files.includes(path.posix.normalize(target)), `${target} is not in the package`);
  });

  it('stays small', () => {
    assert.ok(result.unpackedSize < 1.5 * 1024 * 1024, `unpacked ${result.unpackedSize} bytes`);
  });
});
