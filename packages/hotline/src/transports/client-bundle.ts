import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Serves the browser client (`dist/browser/hotline.js`, built by scripts/build-browser.mjs)
 * at the transports' `clientPath`. Read once, then served from memory with an ETag.
 */

/** From dist/src/transports/ to dist/browser/. */
export const CLIENT_BUNDLE_URL = new URL('../../browser/hotline.js', import.meta.url);

let cached: Promise<{ body: Buffer; etag: string } | null> | null = null;

function load(): Promise<{ body: Buffer; etag: string } | null> {
  cached ??= readFile(CLIENT_BUNDLE_URL).then(
    (body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }),
    () => {
      cached = null; // not built yet: look again next time
      return null;
    },
  );
  return cached;
}

/** Serves the bundle; `written` is told of every answer once it is written (to watch it). */
export function serveClientBundle(request: IncomingMessage, response: ServerResponse, written: (response: ServerResponse) => void = ignore): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Method not allowed\n');
    return;
  }
  load().then((bundle) => {
    if (response.destroyed) return;
    if (bundle === null) {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('The browser client is not built (scripts/build-browser.mjs).\n');
      return;
    }
    const headers = {
      'Content-Type': 'text/javascript; charset=utf-8',
      // Revalidate every time: the ETag makes that a 304 of a few bytes.
      'Cache-Control': 'no-cache',
      ETag: bundle.etag,
    };
    if (request.headers['if-none-match'] === bundle.etag) {
      response.writeHead(304, headers);
      response.end();
      return;
    }
    response.writeHead(200, { ...headers, 'Content-Length': bundle.body.length });
    response.end(request.method === 'HEAD' ? undefined : bundle.body);
    written(response);
  }).catch(() => {
    // The response was torn down under us: nothing is left to answer.
    if (!response.destroyed) response.destroy();
  });
}

function ignore(): void {}
