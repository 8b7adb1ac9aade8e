/**
 * A self-signed certificate for localhost and 127.0.0.1 (ECDSA P-256, valid a century),
 * for wss:// and https:// tests. Read from the source tree: the build does not copy it.
 */
import { readFileSync } from 'node:fs';

const dir = new URL('../../../test/support/tls/', import.meta.url);

export const key = readFileSync(new URL('localhost.key', dir));
export const cert = readFileSync(new URL('localhost.crt', dir));
