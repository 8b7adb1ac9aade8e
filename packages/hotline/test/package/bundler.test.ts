/**
 * `import { connect } from 'hotline/client'` as a bundler user writes it: esbuild resolves
 * the package through its `exports` (the workspace's node_modules/hotline), bundles it for
 * the browser with no Node polyfills, and the bundle runs in headless Chromium against a
 * Hotline server, over WebSocket and over long polling. The bundle goes to a temp dir.
 *
 * Without Chromium the browser half is skipped with a message, except in CI, where it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { Server } from '../../src/server/server.js';
import { enableHttpTransports, type HttpTransports } from '../../src/transports/http-transports.js';
import type { Peer } from '../../src/types.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
// dist/test/package/ -> the package root, whose node_modules resolve 'hotline' as a user's would.
const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const noBrowser = !existsSync(CHROMIUM) && !inCi ? `no Chromium at ${CHROMIUM} (apt-get install chromium); skipped outside CI` : false;

let dir = '';

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hotline-bundle-'));
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** Bundles `source` (an entry module importing 'hotline/client') for the browser. */
async function bundle(name: string, source: string): Promise<{ file: string; bytes: number; inputs: string[] }> {
  const outfile = path.join(dir, `${name}.js`);
  const result = await build({
    // The entry resolves 'hotline' from the package's directory, as it does for a user
    // of the workspace; it is given on stdin, so nothing is written into the checkout.
    stdin: { contents: source, resolveDir: PACKAGE, sourcefile: `${name}-entry.mjs`, loader: 'js' },
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: PACKAGE,
  });
  return { file: outfile, bytes: readFileSync(outfile).length, inputs: Object.keys(result.metafile!.inputs) };
}

describe("the universal client from a bundler: import { connect } from 'hotline/client'", () => {
  it('bundles for the browser from the package exports, with nothing from Node', async () => {
    const { inputs, bytes } = await bundle('client', "import { connect } from 'hotline/client';\nglobalThis.hotlineConnect = connect;\n");
    assert.ok(inputs.length > 3, `inputs: ${inputs.join(', ')}`);
    for (const input of inputs) {
      if (input.endsWith('-entry.mjs')) continue;
      // Its folder, the sans-I/O protocol code, and the error tree (plain JavaScript).
      assert.match(input, /^dist\/src\/((browser|protocol)\/|errors\.js$)/, `the client bundle pulled in ${input}`);
    }
    assert.ok(bytes < 64 * 1024, `the client bundle is ${bytes} bytes`);
  });

  it('lets a bundler drop what is not used ("sideEffects": false)', async () => {
    const { bytes } = await bundle('state', "import { ClientState } from 'hotline/client';\nglobalThis.open = ClientState.OPEN;\n");
    assert.ok(bytes < 1024, `importing one constant bundles ${bytes} bytes`);
  });

  describe('runs in Chromium', { skip: noBrowser }, () => {
    let server: Server;
    let transports: HttpTransports;
    let context: BrowserContext;
    let page: Page;
    let profile = '';

    before(async () => {
      if (!existsSync(CHROMIUM)) assert.fail(`Chromium is required in CI and was not found at ${CHROMIUM}`);
      const app = await bundle('app', "import { connect } from 'hotline/client';\nglobalThis.hotlineConnect = connect;\nglobalThis.ready = true;\n");
      const script = readFileSync(app.file);
      const serve = (request: IncomingMessage, response: ServerResponse): void => {
        if (request.url === '/') {
          response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          response.end('<!doctype html><meta charset="utf-8"><title>bundle</title><script type="module" src="/app.js"></script>');
        } else if (request.url === '/app.js') {
          response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
          response.end(script);
        } else {
          response.writeHead(404);
          response.end();
        }
      };
      server = new Server({ closeTimeout: 400 });
      server.route('/echo', {
        message(peer: Peer, data: Buffer, isBinary: boolean) {
          peer.send(isBinary ? data : `${peer.transport}: ${data.toString()}`, isBinary);
        },
      });
      transports = enableHttpTransports(server, { hold: 2000, heartbeat: 1000, ackDelay: 50 });
      const address = await server.listen(0, '127.0.0.1', serve);
      profile = mkdtempSync(path.join(tmpdir(), 'hotline-bundle-chromium-'));
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
      page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${address.port}/`);
      await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 10_000 });
    });

    after(async () => {
      await context?.close();
      transports?.close();
      await server?.close({ timeout: 200 });
      if (profile !== '') rmSync(profile, { recursive: true, force: true });
    });

    for (const transport of ['websocket', 'long-polling'] as const) {
      it(`connects and echoes over ${transport}`, async () => {
        const answer = await page.evaluate(async (transport) => {
          const connect = (globalThis as unknown as { hotlineConnect: (url: string, options: object) => any }).hotlineConnect;
          const client = connect('/echo', { transports: [transport], reconnect: false });
          return new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
            client.onopen = () => client.send('from a bundle');
            client.onmessage = (event: { data: string }) => {
              clearTimeout(timer);
              client.close();
              resolve(event.data);
            };
          });
        }, transport);
        assert.equal(answer, `${transport}: from a bundle`);
      });
    }
  });
});
