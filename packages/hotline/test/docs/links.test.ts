/**
 * Every relative link of the documentation leads somewhere: the file exists, and an anchor
 * (`page.md#section`, `#section`) names a heading of that page.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { anchors, pages, read, relativeLinks, ROOT, slug } from './markdown.js';

function broken(page: string): string[] {
  const problems: string[] = [];
  for (const link of relativeLinks(page)) {
    const [file, anchor] = link.target.split('#', 2) as [string, string | undefined];
    const target = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), decodeURI(file));
    const where = `${page}:${link.line} ${link.target}`;
    if (!target.startsWith(ROOT + path.sep) && target !== ROOT) problems.push(`${where}: outside the repository`);
    else if (!existsSync(target)) problems.push(`${where}: no such file`);
    else if (anchor !== undefined && anchor !== '' && target.endsWith('.md') && statSync(target).isFile()) {
      if (!anchors(readFileSync(target, 'utf8')).has(anchor)) problems.push(`${where}: no heading with that anchor`);
    }
  }
  return problems;
}

describe('the links of the docs', () => {
  for (const page of pages()) {
    it(`${page}: every relative link resolves`, () => {
      assert.deepEqual(broken(page), []);
    });
  }

  it('the README links to the docs and the docs index links every page', () => {
    const index = read('docs/README.md');
    const linked = new Set(relativeLinks('docs/README.md', index).map((l) => l.target.split('#')[0]));
    for (const page of pages().filter((p) => p.startsWith('docs/') && p.split('/').length === 2 && p !== 'docs/README.md')) {
      assert.ok(linked.has(path.posix.basename(page)), `docs/README.md does not link ${page}`);
    }
    assert.ok(relativeLinks('README.md').some((l) => l.target.startsWith('docs/')));
  });
});

describe('anchors', () => {
  it('follow GitHub: lower case, punctuation dropped, spaces to hyphens, repeats numbered', () => {
    assert.equal(slug('Options (`enableHttpTransports(server, options)`)'), 'options-enablehttptransportsserver-options');
    assert.equal(slug('Transports: WebSocket, SSE, long polling, polling'), 'transports-websocket-sse-long-polling-polling');
    assert.deepEqual([...anchors('# A\n## A\n```\n# not a heading\n```\n### `b` c')], ['a', 'a-1', 'b-c']);
  });
});
