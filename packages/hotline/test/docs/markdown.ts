/**
 * What the documentation tests read in a Markdown page: its fenced code blocks (with the
 * marker comment before each), its relative links and its headings' anchors. A small
 * reader of the CommonMark subset the docs use, not a Markdown parser.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: dist/test/docs/ -> packages/hotline/ -> the root. */
export const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ROOT = path.resolve(PACKAGE, '..', '..');

/**
 * The marker in an HTML comment on the line before a block (blank lines between allowed):
 * `run` compiles the block and runs it, `continue` appends it to the page's previous
 * block of the same language (a program told in steps), `file: NAME` says the block is the
 * whole of file NAME of an application the page builds (getting-started.md).
 */
export type Marker = 'run' | 'continue' | 'file' | null;

export interface CodeBlock {
  /** The page, relative to the repository root. */
  readonly page: string;
  /** 1-based line in the page of the block's first line of code. */
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  readonly marker: Marker;
  /** The file a `file:` marker names. */
  readonly file: string | null;
}

export interface Link {
  readonly page: string;
  readonly line: number;
  readonly target: string;
}

/** The pages: both READMEs and every page of docs/. */
export function pages(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => path.posix.join('docs', file.split(path.sep).join('/')));
  return ['README.md', 'packages/hotline/README.md', ...docs.sort()];
}

export function read(page: string): string {
  return readFileSync(path.join(ROOT, page), 'utf8');
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;
const MARKER = /^<!--\s*(run|continue|file:\s*(\S+))\s*-->$/;

/** Every fenced block of a page, in order. */
export function codeBlocks(page: string, text = read(page)): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  let marker: Marker = null;
  let file: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = FENCE.exec(line);
    if (open === null) {
      const found = MARKER.exec(line.trim());
      if (found !== null) {
        file = found[2] ?? null;
        marker = file === null ? (found[1] as Marker) : 'file';
      } else if (line.trim() !== '') marker = file = null;
      continue;
    }
    const fence = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    // CommonMark §4.5: the closing fence is at least as long as the opening one, same character.
    while (j < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[j]!)) body.push(lines[j++]!);
    blocks.push({ page, line: i + 2, lang: open[3]!.toLowerCase(), code: body.join('\n') + '\n', marker, file });
    marker = file = null;
    i = j;
  }
  return blocks;
}

/** The text of a page outside its code blocks and inline code, line by line. */
function prose(text: string, inlineCode = false): string[] {
  const lines = text.split('\n');
  let fence: string | null = null;
  return lines.map((line) => {
    const open = FENCE.exec(line);
    if (fence === null && open !== null) {
      fence = open[2]!;
      return '';
    }
    if (fence !== null) {
      if (new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(line)) fence = null;
      return '';
    }
    return inlineCode ? line : line.replace(/`[^`]*`/g, '');
  });
}

/** Links that are neither absolute URLs nor mail: `[text](target)` and `<img src>`/`<a href>`. */
export function relativeLinks(page: string, text = read(page)): Link[] {
  const links: Link[] = [];
  prose(text).forEach((line, index) => {
    for (const match of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)|(?:href|src)="([^"]+)"/g)) {
      const target = match[1] ?? match[2]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      links.push({ page, line: index + 1, target });
    }
  });
  return links;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a page defines; repeated headings get -1, -2 as on GitHub. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of prose(text, true)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}
