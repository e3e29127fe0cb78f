/**
 * Every key prefix Dify 1.3.0 writes to storage (all `storage.save(` call sites), so the copy and
 * the checks know what a complete tree looks like.
 */
export const KEY_PREFIXES = [
  'upload_files/',
  'image_files/',
  'tools/',
  'privkeys/',
  'keyword_files/',
  'website_files/',
  'ops_trace/',
  'free_plan_tenant_expired_logs/',
] as const;

/** Where a tenant's RSA private key lives; implied by `tenants.encrypt_public_key`, no column holds it. */
export function privateKeyKey(tenantId: string): string {
  return `privkeys/${tenantId}/private.pem`;
}
