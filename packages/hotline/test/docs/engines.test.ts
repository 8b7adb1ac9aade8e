/**
 * The Node versions the package states are the ones it works on: it is ESM-only, so a
 * CommonJS application needs `require(esm)`, unflagged in Node 20.19 and 22.12. `engines`
 * says so, the install sections say so, and `require('hotline')` works — which also keeps
 * top-level await out of the package, since `require(esm)` refuses a module graph with it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE, read, ROOT } from './markdown.js';

const ENGINES = '^20.19.0 || >=22.12.0';

function engines(file: string): string | undefined {
  return (JSON.parse(readFileSync(file, 'utf8')) as { engines?: { node?: string } }).engines?.node;
}

/** Whether this Node has require(esm) without a flag (20.19+, 22.12+, 23+). */
function hasRequireEsm(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return (major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major >= 23;
}

describe('the Node versions', () => {
  it('engines names the versions with require(esm), in the package and the workspace', () => {
    assert.equal(engines(path.join(PACKAGE, 'package.json')), ENGINES);
    assert.equal(engines(path.join(ROOT, 'package.json')), ENGINES);
  });

  it('the install sections say it, and what CommonJS users need', () => {
    for (const page of ['README.md', 'packages/hotline/README.md', 'docs/getting-started.md']) {
      const text = read(page);
      assert.match(text, /20\.19/, `${page} does not name Node 20.19`);
      assert.match(text, /22\.12/, `${page} does not name Node 22.12`);
      assert.match(text, /require\('hotline'\)/, `${page} does not say how to require it`);
      assert.match(text, /import\('hotline'\)/, `${page} does not give the import() way`);
    }
  });

  it("require('hotline') and require('hotline/client') work from CommonJS", { skip: hasRequireEsm() ? false : `Node ${process.versions.node} has no require(esm)` }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hotline-cjs-'));
    try {
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(PACKAGE, path.join(dir, 'node_modules', 'hotline'), 'dir');
      writeFileSync(
        path.join(dir, 'app.cjs'),
        [
          "const { Server, WebSocket, enableHttpTransports } = require('hotline');",
          "const { connect } = require('hotline/client');",
          "console.log([Server, WebSocket, enableHttpTransports, connect].map((f) => typeof f).join(' '));",
        ].join('\n'),
      );
      const out = execFileSync(process.execPath, ['--no-warnings', 'app.cjs'], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      assert.equal(out.trim(), 'function function function function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
