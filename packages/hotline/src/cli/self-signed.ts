import { X509Certificate, createHash } from 'node:crypto';
import { UsageError } from './args.js';
import { ECHO_USAGE } from './usage.js';

/** A TLS key and certificate, PEM, as `tls.createSecureContext` takes them. */
export interface TlsPair {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
}

/** What a browser can be told to trust a certificate by. */
export interface Fingerprints {
  /**
   * SHA-256 of the certificate's SubjectPublicKeyInfo (DER), base64: the form of
   * Chromium's `--ignore-certificate-errors-spki-list` and of HPKP pins (RFC 7469 §2.4).
   */
  readonly spki: string;
  /** SHA-256 of the whole certificate (DER), colon-separated hex, as browsers show it. */
  readonly certificate: string;
}

/**
 * Certificates generated at start are short-lived: a new one is made at every start, and
 * a browser that was told to trust one should not trust it for long.
 */
const VALIDITY_DAYS = 7;

/**
 * A certificate for `localhost`, 127.0.0.1 and ::1, made now, with a new ECDSA P-256 key
 * (the curve every TLS 1.3 client offers; fast to generate, unlike RSA).
 *
 * `selfsigned` is loaded here only: the library's core has no dependency at run time,
 * and only `hotline echo --self-signed` needs a certificate made on the spot.
 */
export async function selfSignedPair(): Promise<TlsPair> {
  let generate: typeof import('selfsigned').generate;
  try {
    ({ generate } = await import('selfsigned'));
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new UsageError('--self-signed needs the selfsigned package beside hotline: npm install selfsigned', ECHO_USAGE);
  }
  const notBeforeDate = new Date(Date.now() - 60_000); // a client's clock a little behind ours
  const notAfterDate = new Date(notBeforeDate.getTime() + VALIDITY_DAYS * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      // RFC 6125 §6.4.4: clients match the SAN, not the common name (Chromium requires it).
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/** The fingerprints of a PEM certificate (the first one of a chain). */
export function fingerprintsOf(cert: string | Buffer): Fingerprints {
  const x509 = new X509Certificate(cert);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return { spki: createHash('sha256').update(spki).digest('base64'), certificate: x509.fingerprint256 };
}
