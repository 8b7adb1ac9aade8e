#!/usr/bin/env node
// Builds the lab page (web/) into dist/web/: one script bundle (the page, the
// browser client and uPlot), one stylesheet (uPlot's and the page's), the HTML; and the
// cluster page (`hotline serve --nodes N`): its bundle (the page and the browser client)
// and its HTML, with the same stylesheet.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
const require = createRequire(import.meta.url);
mkdirSync(out, { recursive: true });

for (const [entry, outfile] of [['main.ts', 'lab.js'], ['cluster.ts', 'cluster.js']]) await build({
  entryPoints: [path.join(root, 'web', entry)],
  outfile: path.join(out, outfile),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
const labCss = readFileSync(path.join(root, 'web', 'lab.css'), 'utf8');
writeFileSync(path.join(out, 'lab.css'), `${uplotCss}\n${labCss}`);
copyFileSync(path.join(root, 'web', 'index.html'), path.join(out, 'index.html'));
copyFileSync(path.join(root, 'web', 'cluster.html'), path.join(out, 'cluster.html'));
copyFileSync(path.join(root, 'web', 'favicon.svg'), path.join(out, 'favicon.svg'));
