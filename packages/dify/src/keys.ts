/** Where a tenant's RSA private key lives; implied by `tenants.encrypt_public_key`, no column holds it. */
export function privateKeyKey(tenantId: string): string {
  return `privkeys/${tenantId}/private.pem`;
}
