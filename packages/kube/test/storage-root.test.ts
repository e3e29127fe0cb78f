import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  STORAGE_ROOT_OUTSIDE,
  effectiveEnv,
  effectiveStorageRoot,
  inspectInstall,
  objectPath,
} from '../src/index.js';
import { seedInstall, startCluster, type TestCluster } from './support/cluster.js';

const rootOf = (env: Record<string, string>, workingDir?: string) =>
  effectiveStorageRoot(
    effectiveEnv(
      { name: 'api', env: Object.entries(env).map(([name, value]) => ({ name, value })) },
      () => undefined,
    ),
    workingDir,
  )?.root;

describe('effectiveStorageRoot (dify-1.3.0-fidelity.md §4)', () => {
  it('is OPENDAL_FS_ROOT, default storage, relative to /app/api or the workingDir', () => {
    expect(rootOf({})).toBe('/app/api/storage');
    expect(rootOf({ STORAGE_TYPE: 'opendal', OPENDAL_FS_ROOT: 'data/files' })).toBe(
      '/app/api/data/files',
    );
    expect(rootOf({ OPENDAL_FS_ROOT: '/var/dify' })).toBe('/var/dify');
    expect(rootOf({ OPENDAL_FS_ROOT: 'storage' }, '/srv')).toBe('/srv/storage');
  });

  it('is STORAGE_LOCAL_PATH only with STORAGE_TYPE=local; none on S3 or another scheme', () => {
    expect(
      rootOf({ STORAGE_TYPE: 'local', STORAGE_LOCAL_PATH: '/mnt/x', OPENDAL_FS_ROOT: 'y' }),
    ).toBe('/mnt/x');
    expect(rootOf({ STORAGE_TYPE: 'opendal', STORAGE_LOCAL_PATH: '/mnt/x' })).toBe(
      '/app/api/storage',
    );
    expect(rootOf({ STORAGE_TYPE: 'local' })).toBe('/app/api/storage');
    expect(rootOf({ STORAGE_TYPE: 's3' })).toBeUndefined();
    expect(rootOf({ OPENDAL_SCHEME: 's3' })).toBeUndefined();
  });
});

describe('inspection refuses a storage root that is not the hostPath mount (fake API)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster();
    await seedInstall(cluster.client, 'dify');
  });
  afterAll(async () => {
    await cluster.close();
  });

  const findings = async () =>
    (await inspectInstall(cluster.client, { namespace: 'dify' })).findings.filter(
      (f) => f.code === STORAGE_ROOT_OUTSIDE,
    );
  const setRoot = (value: string | null) =>
    cluster.client.patch(objectPath('ConfigMap', 'dify', 'dify-shared-config'), {
      data: { OPENDAL_FS_ROOT: value },
    });

  it('passes the runbook install (OPENDAL_FS_ROOT=storage under /app/api, mount /app/api/storage)', async () => {
    expect(await findings()).toEqual([]);
  });

  it('blocks a root outside the mount and a sub-directory of it, naming the setting', async () => {
    try {
      await setRoot('/data/dify');
      const outside = await findings();
      expect(outside.length).toBeGreaterThan(0);
      expect(outside[0]).toMatchObject({ severity: 'blocker' });
      expect(outside[0]!.message).toContain(
        'keeps Dify\'s files in /data/dify (OPENDAL_FS_ROOT="/data/dify" from ConfigMap "dify-shared-config" (envFrom)), which is not inside the storage mount /app/api/storage',
      );
      await setRoot('storage/files');
      expect((await findings())[0]!.message).toContain('the extra prefix "files/"');
    } finally {
      await setRoot('storage');
    }
  });
});
