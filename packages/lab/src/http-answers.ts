/** What the lab's HTTP servers (one node, or the cluster's front) answer alike: JSON and the built page. */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';

/** A file of the built page (dist/web/) and its media type. */
export interface StaticFile {
  readonly file: string;
  readonly type: string;
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/**
 * A file of the page, for GET or HEAD; 503 with the command that builds it when it is
 * missing (a checkout that was not built), rather than a bare 404.
 */
export async function sendStatic(response: ServerResponse, method: string, webRoot: string, entry: StaticFile): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(path.join(webRoot, entry.file));
  } catch {
    response.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(`The lab page is not built (${path.join(webRoot, entry.file)} is missing): run \`npm run build\`.\n`);
    return;
  }
  response.writeHead(200, { 'Content-Type': entry.type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
  response.end(method === 'HEAD' ? undefined : body);
}

export function sendNotFound(response: ServerResponse): void {
  response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end('Not found\n');
}
