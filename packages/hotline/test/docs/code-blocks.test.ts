/**
 * Every ```ts, ```js and ```cjs block of the documentation compiles against the package as
 * a user imports it (`hotline`, `hotline/client`), and every block marked `<!-- run -->`
 * runs to completion: a page cannot show an API that does not exist or a program that
 * does not work. Shell commands and output are ```sh / ```text and not compiled.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { codeBlocks, pages, PACKAGE, ROOT, type CodeBlock } from './markdown.js';

const COMPILED: Readonly<Record<string, string>> = { ts: '.ts', typescript: '.ts', js: '.js', javascript: '.js', cjs: '.cjs' };
/** A documented program finishes well within this, servers and clients included. */
const RUN_TIMEOUT = 20_000;
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

interface Program {
  readonly file: string; // relative to the temp dir's blocks/
  readonly blocks: CodeBlock[];
  readonly run: boolean;
}

/** The blocks, one program each, `continue` blocks appended to the one before. */
function programs(): Program[] {
  const result: Program[] = [];
  for (const page of pages()) {
    let previous: Program | null = null;
    for (const block of codeBlocks(page)) {
      const ext = COMPILED[block.lang];
      if (ext === undefined) continue;
      if (block.marker === 'continue') {
        assert.ok(previous !== null && previous.file.endsWith(ext), `${block.page}:${block.line}: "continue" with no ${block.lang} block before it`);
        previous.blocks.push(block);
        continue;
      }
      const name = `${page.replace(/[/.]/g, '-')}-${block.line}${ext}`;
      previous = { file: name, blocks: [block], run: block.marker === 'run' };
      result.push(previous);
    }
  }
  return result;
}

function source(program: Program): string {
  return program.blocks.map((block) => block.code).join('\n');
}

/** Where line `row` (1-based) of a program's file comes from in the docs. */
function origin(program: Program, row: number): string {
  let first = 1;
  for (const block of program.blocks) {
    const count = block.code.split('\n').length; // the code, plus the joining newline
    if (row < first + count) return `${block.page}:${block.line + row - first}`;
    first += count;
  }
  const last = program.blocks.at(-1)!;
  return `${last.page}:${last.line}`;
}

function exec(file: string, args: string[], cwd: string, timeout: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, out: stdout + stderr });
    });
  });
}

describe('the code blocks of the docs', () => {
  const all = programs();
  let dir = '';
  let compiled: Map<string, string[]>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hotline-docs-'));
    mkdirSync(path.join(dir, 'blocks'));
    mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
    // The package as an application sees it once installed: `hotline` resolves through its exports.
    symlinkSync(PACKAGE, path.join(dir, 'node_modules', 'hotline'), 'dir');
    // Node's types, and `ws` for the migration page's side-by-side examples.
    for (const name of ['@types/node', 'ws', '@types/ws']) symlinkSync(path.join(ROOT, 'node_modules', name), path.join(dir, 'node_modules', name), 'dir');
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          allowJs: true,
          checkJs: true,
          // A page shows code in a browser and in Node: both sets of globals.
          lib: ['ES2023', 'DOM', 'DOM.Iterable'],
          types: ['node'],
          outDir: 'out',
          rootDir: 'blocks',
        },
        include: ['blocks'],
      }),
    );
    for (const program of all) writeFileSync(path.join(dir, 'blocks', program.file), source(program));
    const { out } = await exec(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], dir, 120_000);
    // "blocks/README-md-12.ts(3,7): error TS2304: Cannot find name 'x'."
    compiled = new Map();
    for (const line of out.split('\n')) {
      const found = /^blocks\/([^()]+)\((\d+),\d+\): (error .*)$/.exec(line);
      if (found === null) continue;
      const program = all.find((p) => p.file === found[1]);
      const where = program === undefined ? found[1]! : origin(program, Number(found[2]));
      const errors = compiled.get(found[1]!) ?? [];
      errors.push(`${where}: ${found[3]}`);
      compiled.set(found[1]!, errors);
    }
  });

  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('finds the blocks: every page that shows code shows compiled code', () => {
    assert.ok(all.length >= 30, `only ${all.length} blocks found`);
    assert.ok(all.filter((p) => p.run).length >= 5, 'too few runnable blocks');
  });

  for (const program of all) {
    const first = program.blocks[0]!;
    it(`${first.page}:${first.line} compiles${program.run ? ' and runs' : ''}`, async () => {
      assert.deepEqual(compiled.get(program.file) ?? [], [], 'type errors');
      if (!program.run) return;
      const js = path.join(dir, 'out', program.file.replace(/\.ts$/, '.js'));
      const { code, out } = await exec(process.execPath, [js], dir, RUN_TIMEOUT);
      assert.equal(code, 0, `exit code ${code} (null: killed after ${RUN_TIMEOUT} ms)\n${out}`);
    });
  }
});

describe('the code block reader', () => {
  it('takes the language, the marker and the first line of code', () => {
    const text = ['# Page', '', '<!-- run -->', '```ts', 'const a = 1;', '```', '', 'prose', '```sh', 'npm test', '```', '<!-- continue -->', '', '```js', 'x();', '```'].join('\n');
    const blocks = codeBlocks('page.md', text);
    assert.deepEqual(
      blocks.map((b) => [b.lang, b.line, b.marker, b.code]),
      [
        ['ts', 5, 'run', 'const a = 1;\n'],
        ['sh', 10, null, 'npm test\n'],
        ['js', 15, 'continue', 'x();\n'],
      ],
    );
  });

  it('names the file of a file: marker', () => {
    const blocks = codeBlocks('page.md', ['<!-- file: public/index.html -->', '```html', '<p>', '```', '```js', 'a;', '```'].join('\n'));
    assert.deepEqual(blocks.map((b) => [b.marker, b.file]), [['file', 'public/index.html'], [null, null]]);
  });

  it('forgets a marker that prose separates from its block', () => {
    const blocks = codeBlocks('page.md', ['<!-- run -->', 'some prose', '```ts', 'a;', '```'].join('\n'));
    assert.equal(blocks[0]!.marker, null);
  });

  it('closes a fence only with one at least as long', () => {
    const blocks = codeBlocks('page.md', ['````md', '```ts', 'a;', '```', '````'].join('\n'));
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0]!.code, '```ts\na;\n```\n');
  });
});
