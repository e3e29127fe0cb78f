import { constants, privateDecrypt } from 'node:crypto';
import { FileNotFoundError, PythonError, log } from './log.js';
import { privkeyKey } from './keys.js';
import type { Storage } from './storage/index.js';

/** `libs.rsa.PrivkeyNotFoundError`: never caught in Dify's api/, so the request fails with 500. */
export class PrivkeyNotFoundError extends PythonError {
  constructor(tenantId: string) {
    super('libs.rsa.PrivkeyNotFoundError', `Private key not found, tenant_id: ${tenantId}`);
  }
}

/**
 * `get_decrypt_decoding` (libs/rsa.py:48-64): `storage.load(privkeys/{tenant}/private.pem)`,
 * where only FileNotFoundError becomes PrivkeyNotFoundError (:54-57); any other error (a 403
 * ClientError) passes through. The 120 s Redis cache `tenant_privkey:{sha3_256(path)}`
 * (:51-52,59) is not emulated: every decrypt reads the configured storage, which is what a
 * check after the cutover must exercise.
 */
export async function loadTenantPrivateKey(storage: Storage, tenantId: string): Promise<Buffer> {
  try {
    return await storage.load(privkeyKey(tenantId));
  } catch (err) {
    if (err instanceof FileNotFoundError) throw new PrivkeyNotFoundError(tenantId);
    throw err;
  }
}

/**
 * `decrypt_token(tenant_id, token)` (core/helper/encrypter.py:24-39, the read of a model
 * provider's stored credentials): base64, then `rsa.decrypt` with the tenant's key loaded as
 * above. Emulated: the non-hybrid form, PKCS#1 OAEP with SHA-1 (PyCryptodome's PKCS1_OAEP
 * default) over the whole token. Not emulated: the `HYBRID:` form (RSA-wrapped AES-EAX key)
 * that 1.3.0's `encrypt` writes; the key is loaded through storage before it is refused.
 */
export async function decryptToken(
  storage: Storage,
  tenantId: string,
  token: string,
): Promise<string> {
  const privateKey = await loadTenantPrivateKey(storage, tenantId);
  const data = Buffer.from(token, 'base64');
  if (data.subarray(0, 7).toString('latin1') === 'HYBRID:') {
    throw new PythonError('NotImplementedError', 'HYBRID tokens are not emulated');
  }
  try {
    const plain = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      data,
    );
    return plain.toString('utf8');
  } catch {
    log('ERROR', 'encrypter.py:39', `Decryption failed, tenant_id: ${tenantId}`);
    throw new PythonError('ValueError', 'Decryption failed');
  }
}
