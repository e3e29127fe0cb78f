import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createBackup,
  moveAside,
  preflightBackup,
  restoreBackup,
  verifyBackup,
  type BackupProgress,
  type CreateBackupResult,
  type ManifestRecord,
} from '@dify-storage/backup';
import {
  makeSampleTree,
  removeDir,
  run,
  snapshotTree,
  tempDir,
  withoutSkipped,
} from './helpers.js';

describe('createBackup → restore', () => {
  let work: string;
  let storage: string;
  let backups: string;
  let result: CreateBackupResult;
  const progress: BackupProgress[] = [];

  beforeAll(async () => {
    work = await tempDir('roundtrip');
    storage = join(work, 'storage');
    backups = join(work, 'backups');
    await mkdir(storage);
    await makeSampleTree(storage);
    const preflightReport = await preflightBackup({
      storageDir: storage,
      backupDir: backups,
      marginRatio: 0,
    });
    result = await createBackup({
      storageDir: storage,
      backupDir: backups,
      preflightReport,
      now: new Date('2026-11-27T10:11:12.345Z'),
      nodeName: 'node-1',
      namespace: 'dify',
      onProgress: (p) => progress.push(p),
      // A 64 MiB margin would not fit every CI tmp; this test is not about space.
      marginRatio: 0,
    });
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it('writes a complete, verified record and standard file names with mode 0600', async () => {
    const r = result.record;
    expect(r.id).toMatch(/^b-20261127T101112Z-[0-9a-f]{6}$/);
    expect(r.status).toBe('complete');
    expect(r.nodeName).toBe('node-1');
    expect(r.namespace).toBe('dify');
    expect(r.archive.fileName).toBe(`dify-storage-${r.id}-20261127T101112Z.tar.zst`);
    expect(r.verification.verified).toBe(true);
    expect(r.kubernetes).toEqual({ objects: [] });
    expect(r.counts.files).toBe(13);
    expect(r.counts.skippedByReason).toEqual({ symlink: 1, fifo: 1 });
    expect(r.counts.skippedSample.map((s) => s.path).sort()).toEqual(['a-fifo', 'link-to-passwd']);
    const names = (await readdir(backups)).sort();
    expect(names).toEqual(
      [
        r.archive.fileName,
        `${r.id}.manifest.ndjson`,
        `${r.id}.record.json`,
        `${r.id}.sha256sums`,
      ].sort(),
    );
    for (const name of names) expect((await stat(join(backups, name))).mode & 0o777).toBe(0o600);
    expect((await stat(result.archivePath)).size).toBe(r.archive.bytes);
    const onDisk = JSON.parse(await readFile(result.recordPath, 'utf8'));
    expect(onDisk).toEqual(r);
  });

  it('reports progress per phase, not per file', () => {
    expect(progress.filter((p) => p.done).map((p) => p.phase)).toEqual(['archive', 'verify']);
    expect(progress.length).toBeLessThanOrEqual(4);
    const archiveDone = progress.find((p) => p.phase === 'archive' && p.done)!;
    expect(archiveDone.files).toBe(13);
    expect(archiveDone.totalBytes).toBe(result.record.counts.dataBytes);
    expect(result.record.durations.preflightMs).toBe(result.preflight!.durationMs);
  });

  it('writes a manifest with every file, directory and skipped entry', async () => {
    const lines = (await readFile(result.manifestPath, 'utf8')).trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as ManifestRecord);
    const byPath = new Map(records.map((m) => [m.path, m]));
    expect(byPath.get('link-to-passwd')).toEqual({
      type: 'skipped',
      path: 'link-to-passwd',
      reason: 'symlink',
    });
    expect(byPath.get('zero.txt')).toMatchObject({
      type: 'file',
      size: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      mode: '0644',
    });
    expect(byPath.get('new\nline.txt')).toMatchObject({ type: 'file', size: 8 });
    expect(byPath.get('website_files')).toMatchObject({ type: 'dir' });
    expect(byPath.get('tools/empty/inner')).toMatchObject({ type: 'dir' });
    expect(byPath.get('restricted')).toMatchObject({ type: 'dir', mode: '0750' });
    expect(records.filter((m) => m.type === 'file')).toHaveLength(13);
  });

  it('restores into an empty directory byte for byte, with modes and mtimes', async () => {
    const target = join(work, 'restored');
    const restored = await restoreBackup({
      archivePath: result.archivePath,
      manifestPath: result.manifestPath,
      targetDir: target,
      expectedArchiveSha256: result.record.archive.sha256,
    });
    expect(restored).toMatchObject({ files: 13, skippedInManifest: 2 });
    const source = withoutSkipped(await snapshotTree(storage));
    expect(await snapshotTree(target)).toEqual(source);
    expect(source.get('zero.txt')!.mtimeUs).toBe('1600000000000001');
  });

  it('is a standard archive: GNU tar --zstd restores the same tree', async () => {
    const target = join(work, 'gnu-tar');
    await mkdir(target);
    const r = run('tar', ['--zstd', '-xpf', result.archivePath, '-C', target]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await snapshotTree(target)).toEqual(withoutSkipped(await snapshotTree(storage)));
  });

  it('emits a checksum list that sha256sum -c accepts', async () => {
    const r = run('sha256sum', ['--strict', '-c', result.checksumsPath], storage);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(13);
  });

  it('verifies again from the files on disk', async () => {
    const v = await verifyBackup({
      archivePath: result.archivePath,
      manifestPath: result.manifestPath,
      expectedArchiveSha256: result.record.archive.sha256,
      expectedManifestSha256: result.record.manifest.sha256,
    });
    expect(v).toMatchObject({
      files: 13,
      skippedInManifest: 2,
      archiveSha256: result.record.archive.sha256,
    });
  });

  it('refuses to restore into a non-empty directory, and moveAside makes room without deleting', async () => {
    const target = join(work, 'live');
    await mkdir(target, { mode: 0o750 });
    await writeFile(join(target, 'written-after-cutover.txt'), 'keep me');
    await expect(
      restoreBackup({
        archivePath: result.archivePath,
        manifestPath: result.manifestPath,
        targetDir: target,
      }),
    ).rejects.toThrow(/is not empty \(1 entries, e\.g\. written-after-cutover\.txt\)/);

    const aside = await moveAside(target, new Date('2026-11-28T01:02:03Z'));
    expect(aside).toBe(`${target}.pre-rollback-20261128T010203Z`);
    expect(await readFile(join(aside, 'written-after-cutover.txt'), 'utf8')).toBe('keep me');
    expect(await readdir(target)).toEqual([]);
    expect((await stat(target)).mode & 0o777).toBe(0o750);
    await restoreBackup({
      archivePath: result.archivePath,
      manifestPath: result.manifestPath,
      targetDir: target,
    });
    expect(await snapshotTree(target)).toEqual(withoutSkipped(await snapshotTree(storage)));
  });
});
