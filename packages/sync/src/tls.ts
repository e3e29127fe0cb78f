import net from 'node:net';
import tls from 'node:tls';
import { S3RequestError } from './errors.js';

/** OpenSSL verification results as Node reports them (`err.code`), plus the host-name check. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function isCertificateError(code: string | undefined): boolean {
  return code !== undefined && CERTIFICATE_CODES.has(code);
}

/** One line that names the certificate problem and the fix, for an error whose code says so. */
export function certificateProblem(origin: string, error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return `the TLS certificate of ${origin} is not trusted: ${error.message} (${code}); give the CA that signed it as 'ca-bundle' (a PEM file or its content) — verification is never turned off`;
}

/**
 * Proves before any other request that an https endpoint's certificate is trusted with `ca`
 * (or the public roots): one TLS handshake, no HTTP. Throws an S3RequestError without a status
 * (could not check) that names the certificate problem; http endpoints pass at once.
 */
export async function checkTlsTrust(
  endpoint: string,
  ca: string | undefined,
  timeoutMs = 10_000,
): Promise<void> {
  const url = new URL(endpoint);
  if (url.protocol !== 'https:') return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: url.port ? Number(url.port) : 443,
      ...(net.isIP(host) ? {} : { servername: host }),
      ...(ca ? { ca } : {}),
    });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(
        Object.assign(new Error(`no TLS handshake within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      ),
    );
    socket.once('secureConnect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      const message = isCertificateError(error.code)
        ? certificateProblem(url.origin, error)
        : `cannot reach ${url.origin}: ${error.message}`;
      reject(new S3RequestError(message, 'TLS', undefined, error.code ?? 'NetworkError', false));
    });
  });
}
