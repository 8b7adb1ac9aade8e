#!/usr/bin/env node
// Bundles the browser client (src/browser/index.ts) into dist/browser/hotline.js, an ES
// module served by the server at the transports' clientPath (default /hotline.js), and
// reports its size, raw and gzipped.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/browser/hotline.js`;

await build({
  entryPoints: [`${root}src/browser/index.ts`],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const bytes = readFileSync(outfile);
const quiet = process.argv.includes('--quiet');
if (!quiet) {
  process.stdout.write(`dist/browser/hotline.js: ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} gzipped\n`);
}
