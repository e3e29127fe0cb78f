import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { SCHEMA_SQL } from '../dify/schema.js';
import { testEnv, type ProvingGroundEnv } from './index.js';

/**
 * A fresh database on the proving ground's PostgreSQL with the Dify 1.3.0 schema subset the
 * migration reads (upload_files, tool_files, tenants, …), so suites never share rows.
 */
export async function createDifyDatabase(
  prefix: string,
  env: ProvingGroundEnv = testEnv(),
): Promise<{ url: string; drop(): Promise<void> }> {
  const name =
    `${prefix.replace(/[^a-z0-9_]/gi, '_')}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const admin = new pg.Client({ connectionString: env.DSM_PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(env.DSM_PG_URL);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(SCHEMA_SQL);
  } finally {
    await client.end();
  }
  return {
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: env.DSM_PG_ADMIN_URL });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
