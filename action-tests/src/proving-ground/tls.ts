import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './process.js';

/** A private CA and a server certificate it signed, as files (PEM). */
export interface TestCertificates {
  /** The CA certificate: what a client must be given to trust the server. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Generates a fresh self-signed CA and a server certificate for 127.0.0.1 and localhost, the way
 * an operator's private CA looks to clients: the server certificate is not self-signed, so only
 * the CA makes it trusted. EC P-256 keys (fast), 30 days; AKI/SKI present (Python 3.13's
 * strict verification requires them).
 */
export async function generateTestCertificates(dir: string): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const ext = f('server.ext');
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid,issuer',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '30',
    '-subj',
    '/CN=dify-storage proving ground CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '30',
    '-extfile',
    ext,
  ]);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}
