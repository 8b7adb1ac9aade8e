import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { Peer } from '../../src/types.js';
import { type TestServer, startServer } from './helpers.js';
import { openPollingSession, rawConnect, readUntil } from './raw-http.js';

/**
 * Upstream bodies: decoding is linear and bounded (a packet limit, counted while
 * decoding), and a body that trickles in is cut at its own deadline.
 */

const MiB = 1024 * 1024;

async function post(ts: TestServer, sid: string, body: Uint8Array | string): Promise<{ status: number; code: string }> {
  const response = await fetch(ts.url(`/u?transport=polling&sid=${sid}`), { method: 'POST', body: body as NonNullable<RequestInit['body']> });
  const json = (await response.json().catch(() => ({}))) as { code?: string };
  return { status: response.status, code: json.code ?? '' };
}

describe('upstream bodies', () => {
  let ts: TestServer;
  const received: string[] = [];

  before(async () => {
    ts = await startServer(
      () => ({
        '/u': {
          message(_peer: Peer, data: Buffer) {
            received.push(data.toString());
          },
        },
      }),
      { maxPackets: 1000, bodyTimeout: 400, minBodyRate: 1000 },
    );
  });
  after(() => ts.close());

  it('refuses a body of more packets than maxPackets with 413 HL_ERR_TOO_MANY_PACKETS and delivers none of them', async () => {
    const sid = await openPollingSession(ts, '/u');
    const answer = await post(ts, sid, '1;' + 't1:x'.repeat(1001));
    assert.deepEqual([answer.status, answer.code], [413, 'HL_ERR_TOO_MANY_PACKETS']);
    assert.equal(received.length, 0);
    assert.equal((await post(ts, sid, '1;' + 't1:x'.repeat(1000))).status, 204);
    assert.equal(received.length, 1000);
    received.length = 0;
  });

  it('refuses ill-formed UTF-8 anywhere in a text packet, as before', async () => {
    const sid = await openPollingSession(ts, '/u');
    const body = Buffer.concat([Buffer.from('1;t1:at4:'), Buffer.from([0x61, 0xe2, 0x82, 0x28])]);
    assert.deepEqual(await post(ts, sid, body), { status: 400, code: 'HL_ERR_MALFORMED_BODY' });
    assert.equal(received.length, 0);
  });

  it('cuts a body that trickles in below minBodyRate past bodyTimeout with 408 HL_ERR_BODY_TIMEOUT, and closes that connection', async () => {
    const sid = await openPollingSession(ts, '/u');
    const raw = await rawConnect(ts.port);
    raw.socket.write(`POST /u?transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n1;b99990:`);
    const trickle = setInterval(() => raw.socket.write('x'), 100);
    try {
      const text = await readUntil(raw, /\r\n\r\n\{[^}]*\}/, 4000);
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.match(text, /HL_ERR_BODY_TIMEOUT/);
      assert.match(text, /connection: close/i);
      await new Promise<void>((resolve) => (raw.socket.closed ? resolve() : raw.socket.once('close', () => resolve())));
    } finally {
      clearInterval(trickle);
      raw.destroy();
    }
  });

  it('takes a large body that arrives at a steady rate', async () => {
    const sid = await openPollingSession(ts, '/u');
    const answer = await post(ts, sid, '1;t' + String(MiB) + ':' + 'k'.repeat(MiB));
    assert.equal(answer.status, 204);
    assert.equal(received.at(-1)!.length, MiB);
    received.length = 0;
  });
});

describe('a batch bomb', () => {
  it('decodes a 16 MiB body of empty packets with memory proportional to the body and refuses it early (child process)', async () => {
    // Measured in a child process: the test runner's own heap would blur the figure.
    const child = fork(fileURLToPath(new URL('./batch-bomb.child.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const result = await new Promise<{ status: number; code: string; growth: number; stall: number }>((resolve, reject) => {
      child.once('message', (message) => resolve(message as never));
      child.once('error', reject);
      child.once('exit', (code) => code !== 0 && reject(new Error(`child exited with ${code}`)));
    });
    assert.deepEqual([result.status, result.code], [413, 'HL_ERR_TOO_MANY_PACKETS']);
    assert.ok(result.growth < 128 * MiB, `the server grew by ${(result.growth / MiB).toFixed(0)} MiB for a 16 MiB body`);
  });
});
