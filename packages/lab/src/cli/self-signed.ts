import { generate } from 'selfsigned';

/**
 * A certificate for `hotline serve --http2`, made at start and kept in memory only: the
 * lab is this machine's (or a trusted network's), and a browser needs TLS to speak HTTP/2
 * at all (no browser does h2c). Self-signed, so a browser warns once; valid for the names
 * a local browser uses (RFC 5280 §4.2.1.6: subjectAltName, which browsers require).
 */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    // A week: long enough for any session of the lab, short as a throwaway key should be.
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
