import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { testEnv } from '../src/proving-ground/index.js';
import { startSimulatedInstall, type SimulatedInstall } from '../src/install/simulated-install.js';

describe('the simulated install', () => {
  let install: SimulatedInstall;
  beforeAll(async () => {
    install = await startSimulatedInstall({ env: testEnv(), files: 20 });
  }, 120_000);
  afterAll(async () => {
    await install?.stop();
  });

  it('runs Dify on the hostPath of its node: an upload lands in the node directory and in upload_files', async () => {
    const tenant = install.seeded.tenants[0]!;
    const form = new FormData();
    form.append('file', new Blob(['hello from the demo']), 'hello.txt');
    form.append('user', 'tester');
    const res = await fetch(`${install.difyUrl}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.appApiKey}` },
      body: form,
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const client = new pg.Client({ connectionString: install.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ key: string; storage_type: string }>(
        'SELECT key, storage_type FROM upload_files WHERE id = $1',
        [id],
      );
      expect(rows[0]!.storage_type).toBe('opendal');
      expect(existsSync(path.join(install.storagePath, rows[0]!.key))).toBe(true);
    } finally {
      await client.end();
    }
  });
});
