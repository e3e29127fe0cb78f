import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { freePort } from '../../src/kube/kubelet.js';
import { startProvingGround, type ProvingGround } from '../../src/proving-ground/index.js';

/**
 * Operators work as root in /root (mode 0700): the proving ground must start from a checkout
 * there, though PostgreSQL runs as its own user, who cannot enter that directory.
 */
describe('the proving ground from a checkout inside a 0700 directory', () => {
  let home: string;
  let ground: ProvingGround | undefined;
  afterAll(async () => {
    await ground?.stop();
    await rm(home, { recursive: true, force: true });
  }, 60_000);

  it('starts, keeps PostgreSQL state where its user can reach it, and stops clean', async () => {
    home = await mkdtemp(path.join(tmpdir(), 'root-like-'));
    const stateDir = path.join(home, 'checkout', '.proving-ground');
    await mkdir(path.dirname(stateDir), { mode: 0o700 });
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    const ports = {
      s3: await freePort(),
      s3Tls: await freePort(),
      monV2: await freePort(),
      monV1: await freePort(),
      postgres: await freePort(),
      redis: await freePort(),
    };
    ground = await startProvingGround({ stateDir, owner: 'jest', ports });
    const client = new pg.Client({ connectionString: ground.env.DSM_PG_URL });
    await client.connect();
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    const pgHome = await readFile(path.join(stateDir, 'postgres.dir'), 'utf8');
    expect(pgHome.startsWith(home)).toBe(false);
    expect((await stat(pgHome)).mode & 0o777).toBe(0o700);
    await ground.stop();
    ground = undefined;
    await expect(stat(pgHome)).rejects.toThrow('ENOENT');
  }, 120_000);
});
