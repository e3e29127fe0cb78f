import { randomBytes, randomUUID } from 'node:crypto';
import { naiveUtc } from './db.js';
import { privkeyKey } from './keys.js';
import { generateRsaKeyPair, type RsaKeyPair } from './rsa.js';
import type { Db } from './schema.js';
import type { Storage } from './storage/index.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `ApiToken.generate_api_key(prefix, 24)`: the prefix and 24 random letters or digits. */
export function generateApiKey(
  prefix: 'app-' | 'dataset-',
  random: (n: number) => Uint8Array = randomBytes,
): string {
  const bytes = random(24);
  let s = prefix;
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

export interface CreatedTenant {
  tenantId: string;
  accountId: string;
  name: string;
  publicKeyPem: string;
}

/**
 * TenantService.create_tenant + create_owner_tenant_if_not_exist: the tenant row first, then
 * `generate_key_pair` saves `privkeys/{tenant}/private.pem` through the configured storage and
 * the public key lands in `tenants.encrypt_public_key`; an owner account joins the tenant.
 * If the storage save fails the tenant row stays without a key, as in Dify.
 */
export async function createTenant(
  db: Db,
  storage: Storage,
  opts: { name?: string; email?: string; keyPair?: RsaKeyPair } = {},
): Promise<CreatedTenant> {
  const tenantId = randomUUID();
  const accountId = randomUUID();
  const name = opts.name ?? `Workspace ${tenantId.slice(0, 8)}`;
  const now = naiveUtc();
  await db.query(
    `INSERT INTO accounts (id, name, email, status, initialized_at, created_at, updated_at)
     VALUES ($1, $2, $3, 'active', $4, $4, $4)`,
    [
      accountId,
      `Owner of ${name}`,
      opts.email ?? `owner-${accountId.slice(0, 8)}@example.com`,
      now,
    ],
  );
  await db.query(
    `INSERT INTO tenants (id, name, plan, status, created_at, updated_at) VALUES ($1, $2, 'basic', 'normal', $3, $3)`,
    [tenantId, name, now],
  );
  const keys = opts.keyPair ?? (await generateRsaKeyPair());
  await storage.save(privkeyKey(tenantId), Buffer.from(keys.privatePem));
  await db.query(`UPDATE tenants SET encrypt_public_key = $2 WHERE id = $1`, [
    tenantId,
    keys.publicPem,
  ]);
  await db.query(
    `INSERT INTO tenant_account_joins (id, tenant_id, account_id, current, role, created_at, updated_at)
     VALUES ($1, $2, $3, true, 'owner', $4, $4)`,
    [randomUUID(), tenantId, accountId, now],
  );
  return { tenantId, accountId, name, publicKeyPem: keys.publicPem };
}

/** An app with service API enabled and one `app-…` key. */
export async function createApp(
  db: Db,
  tenantId: string,
  accountId: string,
  opts: { name?: string; apiKey?: string; appId?: string } = {},
): Promise<{ appId: string; apiKey: string }> {
  const appId = opts.appId ?? randomUUID();
  const apiKey = opts.apiKey ?? generateApiKey('app-');
  await db.query(
    `INSERT INTO apps (id, tenant_id, name, mode, icon_type, icon, icon_background, created_by)
     VALUES ($1, $2, $3, 'chat', 'emoji', '🤖', '#FFEAD5', $4)`,
    [appId, tenantId, opts.name ?? 'Storage probe', accountId],
  );
  await db.query(
    `INSERT INTO api_tokens (id, app_id, tenant_id, type, token) VALUES ($1, $2, $3, 'app', $4)`,
    [randomUUID(), appId, tenantId, apiKey],
  );
  return { appId, apiKey };
}

/** A knowledge base (dataset) and one `dataset-…` key of its tenant. */
export async function createDataset(
  db: Db,
  tenantId: string,
  accountId: string,
  opts: {
    name?: string;
    indexingTechnique?: 'high_quality' | 'economy' | null;
    apiKey?: string;
    datasetId?: string;
  } = {},
): Promise<{ datasetId: string; apiKey: string }> {
  const datasetId = opts.datasetId ?? randomUUID();
  const apiKey = opts.apiKey ?? generateApiKey('dataset-');
  await db.query(
    `INSERT INTO datasets (id, tenant_id, name, indexing_technique, created_by, updated_by)
     VALUES ($1, $2, $3, $4, $5, $5)`,
    [
      datasetId,
      tenantId,
      opts.name ?? 'Storage probe',
      opts.indexingTechnique ?? 'economy',
      accountId,
    ],
  );
  await db.query(
    `INSERT INTO api_tokens (id, app_id, tenant_id, type, token) VALUES ($1, NULL, $2, 'dataset', $3)`,
    [randomUUID(), tenantId, apiKey],
  );
  return { datasetId, apiKey };
}

export interface Workspace extends CreatedTenant {
  appId: string;
  appApiKey: string;
  datasetId: string;
  datasetApiKey: string;
}

/** A tenant with an owner, an app key and a dataset key: everything a probe needs. */
export async function provisionWorkspace(
  db: Db,
  storage: Storage,
  opts: { name?: string } = {},
): Promise<Workspace> {
  const tenant = await createTenant(db, storage, opts);
  const app = await createApp(db, tenant.tenantId, tenant.accountId);
  const dataset = await createDataset(db, tenant.tenantId, tenant.accountId);
  return {
    ...tenant,
    appId: app.appId,
    appApiKey: app.apiKey,
    datasetId: dataset.datasetId,
    datasetApiKey: dataset.apiKey,
  };
}
