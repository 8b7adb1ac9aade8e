#!/usr/bin/env node
// Bundles the chat page's script (chat/public/app.ts, which imports 'hotline/client' as
// any application would) with esbuild, and copies the page next to it, into
// dist/chat/public/, where the chat server serves them from.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/chat/public/`;

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${root}chat/public/app.ts`],
  outfile: `${out}app.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) copyFileSync(`${root}chat/public/${file}`, `${out}${file}`);
