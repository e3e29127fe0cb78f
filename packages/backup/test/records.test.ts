import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  applyRetention,
  backupFiles,
  createBackup,
  findBackup,
  latestBackup,
  listBackups,
  resolveBackupFile,
  type CreateBackupResult,
} from '@dify-storage/backup';
import { removeDir, tempDir } from './helpers.js';

describe('backup records: find, latest, retention', () => {
  let work: string;
  let backups: string;
  const made: CreateBackupResult[] = [];

  beforeAll(async () => {
    work = await tempDir('records');
    const storage = join(work, 'storage');
    backups = join(work, 'backups');
    await mkdir(join(storage, 'upload_files/t'), { recursive: true });
    await writeFile(join(storage, 'upload_files/t/a.txt'), 'hello');
    const days = ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'];
    for (const [i, day] of days.entries()) {
      const id = `b-${day.replace(/-/g, '')}T080000Z-00000${i}`;
      // The snapshot half writes `<id>.kubernetes/` before the archive and lists it in the record.
      for (const kind of ['raw', 'sanitized']) {
        await mkdir(join(backups, `${id}.kubernetes`, kind), { recursive: true });
        await writeFile(
          join(backups, `${id}.kubernetes`, kind, 'statefulset-dify-api.yaml'),
          `kind: StatefulSet # ${kind}\n`,
        );
      }
      made.push(
        await createBackup({
          storageDir: storage,
          backupDir: backups,
          now: new Date(`${day}T08:00:00Z`),
          backupId: id,
          namespace: i === 3 ? 'other' : 'dify',
          marginRatio: 0,
          kubernetes: {
            objects: [
              {
                apiVersion: 'apps/v1',
                kind: 'StatefulSet',
                namespace: 'dify',
                name: 'dify-api',
                rawFile: `${id}.kubernetes/raw/statefulset-dify-api.yaml`,
                sanitizedFile: `${id}.kubernetes/sanitized/statefulset-dify-api.yaml`,
              },
            ],
          },
        }),
      );
    }
    // An unfinished run: a partial archive and no record.
    await writeFile(join(backups, 'b-20261124T080000Z-000009.tar.zst.partial'), 'partial');
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it('finds a backup by id and checks its files', async () => {
    const found = await findBackup(backups, made[1]!.record.id, { verifyArchiveHash: true });
    expect(found.record).toEqual(made[1]!.record);
    expect(found.archivePath).toBe(made[1]!.archivePath);
  });

  it('answers a wrong id with the ids that exist', async () => {
    await expect(findBackup(backups, 'b-20261231T000000Z-abcdef')).rejects.toThrow(
      /No backup with id b-20261231T000000Z-abcdef in .*Available backups: b-20261123T080000Z-000003 \(2026-11-23T08:00:00\.000Z, namespace other\), b-20261122T080000Z-000002 .*, b-20261120T080000Z-000000 .*\. Incomplete \(unusable\): b-20261124T080000Z-000009\./,
    );
    await expect(findBackup(backups, '../etc')).rejects.toThrow(
      /Backup id "\.\.\/etc" is not valid/,
    );
  });

  it('refuses an unfinished backup', async () => {
    await expect(findBackup(backups, 'b-20261124T080000Z-000009')).rejects.toThrow(
      /Backup b-20261124T080000Z-000009 .* is incomplete and cannot be used: no backup record \(the run did not finish\) \(files present: b-20261124T080000Z-000009\.tar\.zst\.partial\)/,
    );
  });

  it('picks the newest complete backup, per namespace when asked', async () => {
    expect((await latestBackup(backups)).record.id).toBe(made[3]!.record.id);
    expect((await latestBackup(backups, { namespace: 'dify' })).record.id).toBe(made[2]!.record.id);
    await expect(latestBackup(backups, { namespace: 'nope' })).rejects.toThrow(
      /No complete backup for namespace nope/,
    );
  });

  it('refuses a backup whose Kubernetes snapshot file is missing, or whose record names a path outside', async () => {
    const id = made[3]!.record.id;
    const sanitized = join(backups, `${id}.kubernetes/sanitized/statefulset-dify-api.yaml`);
    const content = await readFile(sanitized);
    await rm(sanitized);
    await expect(findBackup(backups, id)).rejects.toThrow(
      `the Kubernetes snapshot file ${id}.kubernetes/sanitized/statefulset-dify-api.yaml (StatefulSet dify-api) is missing`,
    );
    await writeFile(sanitized, content);
    expect(() => resolveBackupFile(backups, '../elsewhere/x.yaml')).toThrow(
      /not a plain path inside the backup directory/,
    );
  });

  it('refuses a backup whose archive was truncated', async () => {
    await truncate(made[0]!.archivePath, 10);
    await expect(findBackup(backups, made[0]!.record.id)).rejects.toThrow(
      new RegExp(
        `Backup ${made[0]!.record.id} in .* is incomplete or damaged: the archive .* has 10 bytes, the record says \\d+`,
      ),
    );
  });

  it('keeps the newest N and every protected backup, deletes the rest record first', async () => {
    const result = await applyRetention(backups, 1, {
      namespace: 'dify',
      protectedIds: [made[0]!.record.id],
    });
    expect(result.kept).toEqual([made[2]!.record.id, made[0]!.record.id]);
    expect(result.protectedKept).toEqual([made[0]!.record.id]);
    expect(result.deleted.map((d) => d.id)).toEqual([made[1]!.record.id]);
    const id1 = made[1]!.record.id;
    expect(result.deleted[0]!.files).toEqual([
      `${id1}.record.json`,
      made[1]!.record.archive.fileName,
      `${id1}.manifest.ndjson`,
      `${id1}.sha256sums`,
      `${id1}.kubernetes/raw/statefulset-dify-api.yaml`,
      `${id1}.kubernetes/sanitized/statefulset-dify-api.yaml`,
      `${id1}.kubernetes/`,
    ]);
    expect(result.deleted[0]!.bytes).toBeGreaterThan(0);
    expect(result.incomplete.map((b) => b.id)).toEqual(['b-20261124T080000Z-000009']);
    const left = await readdir(backups);
    expect(left.some((n) => n.includes(made[1]!.record.id))).toBe(false);
    expect(left).toContain('b-20261124T080000Z-000009.tar.zst.partial');
    const listing = await listBackups(backups);
    expect(listing.complete.map((r) => r.id)).toEqual([
      made[3]!.record.id,
      made[2]!.record.id,
      made[0]!.record.id,
    ]);
    await expect(applyRetention(backups, 0)).rejects.toThrow(
      /keep is 0; it must be a whole number of at least 1/,
    );
  });
});

describe('a backup with several storage trees (issue 19 shapes 3 and 4)', () => {
  it('retention deletes the other trees’ backups with the one whose record names them', async () => {
    const work = await tempDir('trees');
    try {
      const backups = join(work, 'backups');
      const tree = async (name: string) => {
        const dir = join(work, name);
        await mkdir(join(dir, 'upload_files/t'), { recursive: true });
        await writeFile(join(dir, 'upload_files/t', `${name}.txt`), name);
        return dir;
      };
      const other = await createBackup({
        storageDir: await tree('worker'),
        backupDir: backups,
        backupId: 'b-20261120T080000Z-000001-dify-worker',
        now: new Date('2026-11-20T08:00:00Z'),
        marginRatio: 0,
      });
      const named = {
        label: 'dify-worker',
        slug: 'dify-worker',
        volume: 'local PV',
        node: 'node-a',
        storageDir: join(work, 'worker'),
        backupId: other.record.id,
        files: 1,
        dataBytes: 6,
        backupFiles: backupFiles(other.record),
      };
      const make = (id: string, day: string, storageTrees?: (typeof named)[]) =>
        tree(`api-${day}`).then((dir) =>
          createBackup({
            storageDir: dir,
            backupDir: backups,
            backupId: id,
            now: new Date(`${day}T09:00:00Z`),
            namespace: 'dify',
            marginRatio: 0,
            kubernetes: { objects: [], ...(storageTrees ? { storageTrees } : {}) },
          }),
        );
      const first = await make('b-20261120T080000Z-000001', '2026-11-20', [named]);
      expect(backupFiles(first.record)).toEqual(expect.arrayContaining(backupFiles(other.record)));
      await make('b-20261121T080000Z-000002', '2026-11-21');
      const result = await applyRetention(backups, 1, { namespace: 'dify' });
      expect(result.deleted.map((d) => d.id)).toEqual([first.record.id]);
      expect(result.deleted[0]!.files).toEqual(
        expect.arrayContaining([`${other.record.id}.record.json`, other.record.archive.fileName]),
      );
      expect((await listBackups(backups)).complete.map((r) => r.id)).toEqual([
        'b-20261121T080000Z-000002',
      ]);
    } finally {
      await removeDir(work);
    }
  });
});
