/**
 * `hotline echo` over TLS: --tls-key/--tls-cert (files checked before the port is taken:
 * each mistake a usage error naming the file, exit 2), --self-signed (a certificate for
 * localhost and 127.0.0.1 made at start, its fingerprints printed), HTTP/2 and HTTP/1.1 by
 * ALPN, and --no-http2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsClient } from 'ws';
import { UsageError } from '../../src/cli/args.js';
import { parseEcho } from '../../src/cli/echo-options.js';
import { fingerprintsOf } from '../../src/cli/self-signed.js';
import { ECHO_USAGE } from '../../src/cli/usage.js';
import { H2Client, dataFrame, headersFrame, webSocketConnect } from '../support/h2-frames.js';
import { clientFrame } from '../support/raw.js';
import { assertEchoes, closeWs } from '../support/server.js';
import { cert } from '../support/tls.js';
import { withTimeout } from '../support/timing.js';
import { startTlsEcho, type TlsEcho } from '../http2/echo-process.js';
import { run } from './run.js';

const KEY_FILE = fileURLToPath(new URL('../../../test/support/tls/localhost.key', import.meta.url));
const CERT_FILE = fileURLToPath(new URL('../../../test/support/tls/localhost.crt', import.meta.url));

/** A `ws` client over wss:// (TLS, ALPN http/1.1), trusting any certificate. */
function wssClient(port: number): Promise<WsClient> {
  const ws = new WsClient(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    3000,
    'wss:// to open',
  );
}

/** What ALPN picks when a client offers h2 and http/1.1, and the certificate served. */
async function negotiate(port: number): Promise<{ alpn: string | false; certificate: tls.PeerCertificate }> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
  try {
    await withTimeout(new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), 3000, 'TLS');
    return { alpn: socket.alpnProtocol ?? false, certificate: socket.getPeerCertificate() };
  } finally {
    socket.destroy();
  }
}

/** An extended CONNECT (RFC 8441) to `/` and one message echoed on it. */
async function assertEchoesOverHttp2(port: number): Promise<void> {
  const client = await H2Client.connect(port);
  try {
    const id = client.streamId();
    client.write(headersFrame(id, webSocketConnect(port, '/')));
    assert.equal((await client.answer(id)).status, 200);
    client.write(dataFrame(id, clientFrame({ opcode: 0x1, payload: 'over h2' })));
    await client.waitFor((f) => f.streamId === id && f.type === 0 && f.payload.length >= 9, 'the echo');
    assert.equal(client.dataOf(id).subarray(2).toString(), 'over h2');
  } finally {
    client.close();
  }
}

describe('hotline echo TLS flags', () => {
  for (const [args, pattern] of [
    [['--tls-key', 'k.pem'], /^--tls-key needs --tls-cert FILE/],
    [['--tls-cert', 'c.pem'], /^--tls-cert needs --tls-key FILE/],
    [['--self-signed', '--tls-key', 'k.pem', '--tls-cert', 'c.pem'], /^--self-signed makes its own key and certificate/],
    [['--no-http2'], /^--no-http2 applies with TLS/],
  ] as const) {
    it(`refuses ${args.join(' ')}`, () => {
      assert.throws(() => parseEcho(['--port', '0', ...args]), (error: unknown) => error instanceof UsageError && pattern.test(error.message) && error.usage === ECHO_USAGE);
    });
  }

  it('reads the pair, or asks for a certificate made at start, and HTTP/2 unless --no-http2', () => {
    const files = parseEcho(['--port', '0', '--tls-key', 'k.pem', '--tls-cert', 'c.pem']);
    assert.ok(!files.help);
    assert.deepEqual([files.tls, files.http2], [{ selfSigned: false, keyFile: 'k.pem', certFile: 'c.pem' }, true]);
    const made = parseEcho(['--port', '0', '--self-signed', '--no-http2']);
    assert.ok(!made.help);
    assert.deepEqual([made.tls, made.http2], [{ selfSigned: true }, false]);
    const plain = parseEcho(['--port', '0']);
    assert.ok(!plain.help);
    assert.equal(plain.tls, undefined);
  });
});

describe('hotline echo TLS files that cannot serve', { timeout: 20_000, concurrency: true }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-echo-tls-'));
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a PEM file\n');
  const otherKey = join(dir, 'other.key');
  writeFileSync(otherKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, key, certificate, pattern] of [
    ['a key file that does not exist', join(dir, 'missing.key'), CERT_FILE, /^hotline: --tls-key: cannot read ".*missing\.key" \(no such file\)\n/],
    ['a certificate that is a directory', KEY_FILE, dir, /^hotline: --tls-cert: cannot read ".*" \(a directory\)\n/],
    ['a key that is not PEM', garbage, CERT_FILE, /^hotline: --tls-key ".*garbage\.pem" holds no usable private key \(PEM\)/],
    ['a certificate that is not PEM', KEY_FILE, garbage, /^hotline: --tls-cert ".*garbage\.pem" holds no certificate \(PEM\)/],
    ['a key that is not the certificate\'s', otherKey, CERT_FILE, /^hotline: --tls-key ".*other\.key" is not the key of the certificate in --tls-cert ".*localhost\.crt"\n/],
  ] as const) {
    it(`exits 2 with a usage error naming the file for ${name}`, async () => {
      const result = await run(['echo', '--port', '0', '--host', '127.0.0.1', '--tls-key', key, '--tls-cert', certificate]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, pattern);
      assert.match(result.stderr, /\n\nUsage: hotline echo/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(result.stdout, '', 'never listened');
    });
  }
});

describe('hotline echo --tls-key --tls-cert', { timeout: 20_000 }, () => {
  let echo: TlsEcho;
  before(async () => {
    echo = await startTlsEcho(['--tls-key', KEY_FILE, '--tls-cert', CERT_FILE]);
  });
  after(() => echo.stop());

  it('prints wss:// and the fingerprints of the certificate it was given', () => {
    const { spki, certificate } = fingerprintsOf(cert);
    assert.match(echo.banner, /TLS, HTTP\/2 \(RFC 8441 WebSocket\) and HTTP\/1\.1 by ALPN\n/);
    assert.ok(echo.banner.includes(`certificate SHA-256: ${certificate}\n`), echo.banner);
    assert.equal(echo.spki, spki);
    assert.equal(certificate, new X509Certificate(cert).fingerprint256);
  });

  it('picks h2 by ALPN and echoes over an HTTP/2 stream (RFC 8441)', async () => {
    assert.equal((await negotiate(echo.port)).alpn, 'h2');
    await assertEchoesOverHttp2(echo.port);
  });

  it('echoes over wss:// on HTTP/1.1', async () => {
    const ws = await wssClient(echo.port);
    await assertEchoes(ws);
    await closeWs(ws);
  });
});

describe('hotline echo --self-signed', { timeout: 20_000 }, () => {
  let echo: TlsEcho;
  before(async () => {
    echo = await startTlsEcho(['--self-signed']);
  });
  after(() => echo.stop());

  it('serves a certificate for localhost, 127.0.0.1 and ::1 whose public key has the SPKI fingerprint printed', async () => {
    const { certificate } = await negotiate(echo.port);
    assert.equal(tls.checkServerIdentity('localhost', certificate), undefined);
    assert.equal(tls.checkServerIdentity('127.0.0.1', certificate), undefined);
    assert.match(certificate.subjectaltname ?? '', /IP Address:0:0:0:0:0:0:0:1|IP Address:::1/);
    const spki = new X509Certificate(certificate.raw).publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(echo.spki, createHash('sha256').update(spki).digest('base64'));
    assert.ok(echo.banner.includes(`certificate SHA-256: ${certificate.fingerprint256}\n`), echo.banner);
    assert.match(echo.banner, /a certificate made at start for localhost, 127\.0\.0\.1 and ::1/);
  });

  it('is made anew at every start', async () => {
    const other = await startTlsEcho(['--self-signed']);
    try {
      assert.notEqual(other.spki, echo.spki);
    } finally {
      await other.stop();
    }
  });

  it('echoes over HTTP/2 and over wss:// on HTTP/1.1', async () => {
    await assertEchoesOverHttp2(echo.port);
    const ws = await wssClient(echo.port);
    await assertEchoes(ws);
    await closeWs(ws);
  });
});

describe('hotline echo --self-signed --no-http2', { timeout: 20_000 }, () => {
  let echo: TlsEcho;
  before(async () => {
    echo = await startTlsEcho(['--self-signed', '--no-http2']);
  });
  after(() => echo.stop());

  it('says HTTP/1.1 only, does not pick h2 by ALPN, and echoes over wss://', async () => {
    assert.match(echo.banner, /TLS, HTTP\/1\.1 only/);
    assert.notEqual((await negotiate(echo.port)).alpn, 'h2');
    const ws = await wssClient(echo.port);
    await assertEchoes(ws);
    await closeWs(ws);
  });
});
