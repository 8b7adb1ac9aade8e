import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * Each example's main.ts as its README runs it: on PORT (0 here: a free port), printing
 * its address, serving, and exiting 0 on SIGINT; a PORT that is not a port exits 2.
 */

const DIST = fileURLToPath(new URL('..', import.meta.url));
const json = { 'Content-Type': 'application/json' };

const PROBES: Record<string, (url: string) => Promise<Response>> = {
  chat: (url) => fetch(`${url}/`),
  pubsub: (url) => fetch(`${url}/publish?topic=news`, { method: 'POST', headers: json, body: '1' }),
  express: (url) => fetch(`${url}/api/health`),
  fastify: (url) => fetch(`${url}/api/health`),
  auth: (url) => fetch(`${url}/login`, { method: 'POST', headers: json, body: '{"user":"bob","password":"builder"}' }),
};

function run(name: string, port: string) {
  return spawn(process.execPath, [`${DIST}${name}/main.js`], { env: { ...process.env, PORT: port, HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The first http:// address the process prints, within 15 s. */
function address(child: ReturnType<typeof run>): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no address printed: ${out}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (found !== null) {
        clearTimeout(timer);
        resolve(found[0]);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing an address: ${out}`)));
  });
}

describe('examples/*/main.js', () => {
  for (const [name, probe] of Object.entries(PROBES)) {
    it(`runs ${name} on PORT and stops on SIGINT with exit 0`, async () => {
      const child = run(name, '0');
      try {
        const url = await address(child);
        assert.equal((await probe(url)).status, 200);
        const exited = once(child, 'exit');
        child.kill('SIGINT');
        const [code] = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 5 s')), 5000).unref())]);
        assert.equal(code, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }

  it('exits 2 with a message when PORT is not a port', async () => {
    const child = run('chat', '99999');
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(err, /PORT must be an integer from 0 to 65535, not "99999"/);
  });
});
