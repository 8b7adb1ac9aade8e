#!/usr/bin/env node
// Builds the lab page (web/) into dist/web/: one script bundle (the page, the
// browser client and uPlot), one stylesheet (uPlot's and the page's), the HTML.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
const require = createRequire(import.meta.url);
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [path.join(root, 'web', 'main.ts')],
  outfile: path.join(out, 'lab.js'),
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
copyFileSync(path.join(root, 'web', 'favicon.svg'), path.join(out, 'favicon.svg'));
