import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { UsageError } from './args.js';
import type { EchoTls } from './echo-options.js';
import { type Fingerprints, type TlsPair, fingerprintsOf, selfSignedPair } from './self-signed.js';
import { ECHO_USAGE } from './usage.js';

/** The key and certificate `hotline echo` serves TLS with, checked, and how to trust them. */
export interface EchoTlsMaterial {
  readonly pair: TlsPair;
  readonly fingerprints: Fingerprints;
  /** Generated at start (`--self-signed`), rather than read from files. */
  readonly selfSigned: boolean;
}

/**
 * Reads (or, with `--self-signed`, makes) the key and certificate. Every file that
 * cannot serve is a usage error that names the file and the flag, found before the port
 * is taken: unreadable, not PEM, a key that is not the certificate's.
 */
export async function loadEchoTls(tls: EchoTls): Promise<EchoTlsMaterial> {
  if (tls.selfSigned) {
    const pair = await selfSignedPair();
    return { pair, fingerprints: fingerprintsOf(pair.cert), selfSigned: true };
  }
  const key = readPem(tls.keyFile, 'tls-key');
  const cert = readPem(tls.certFile, 'tls-cert');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new UsageError(`--tls-key ${JSON.stringify(tls.keyFile)} holds no usable private key (PEM): ${reason(error)}`, ECHO_USAGE);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new UsageError(`--tls-cert ${JSON.stringify(tls.certFile)} holds no certificate (PEM): ${reason(error)}`, ECHO_USAGE);
  }
  // A mismatched pair would fail every handshake, one client at a time, with a vague alert.
  if (!x509.checkPrivateKey(privateKey)) {
    throw new UsageError(`--tls-key ${JSON.stringify(tls.keyFile)} is not the key of the certificate in --tls-cert ${JSON.stringify(tls.certFile)}`, ECHO_USAGE);
  }
  try {
    createSecureContext({ key, cert });
  } catch (error) {
    throw new UsageError(`--tls-key and --tls-cert cannot serve TLS together: ${reason(error)}`, ECHO_USAGE);
  }
  return { pair: { key, cert }, fingerprints: fingerprintsOf(cert), selfSigned: false };
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code === 'EACCES' ? 'permission denied' : reason(error);
    throw new UsageError(`--${flag}: cannot read ${JSON.stringify(file)} (${why})`, ECHO_USAGE);
  }
}

function reason(error: unknown): string {
  return (error as { message?: string }).message ?? String(error);
}

/**
 * The lines under the banner: what is spoken, and the fingerprints that tell a browser to
 * trust this certificate (Chromium: `--ignore-certificate-errors-spki-list=SPKI`; the
 * certificate's SHA-256 is what a browser's certificate viewer shows).
 */
export function echoTlsBanner(tls: EchoTlsMaterial, http2: boolean): string {
  const origin = tls.selfSigned ? ', a certificate made at start for localhost, 127.0.0.1 and ::1' : '';
  return (
    `  TLS, ${http2 ? 'HTTP/2 (RFC 8441 WebSocket) and HTTP/1.1 by ALPN' : 'HTTP/1.1 only'}${origin}\n` +
    `  certificate SHA-256: ${tls.fingerprints.certificate}\n` +
    `  SPKI SHA-256: ${tls.fingerprints.spki}  (chromium --ignore-certificate-errors-spki-list=${tls.fingerprints.spki})\n`
  );
}
