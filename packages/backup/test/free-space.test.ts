import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError, createBackup, findBackup, preflightBackup } from '@dify-storage/backup';
import { removeDir, tempDir } from './helpers.js';

/** A 2 MiB tmpfs as the backup directory, for a storage tree of ~5 MiB of incompressible data. */
describe('a backup directory that is too small', () => {
  let work: string;
  let storage: string;
  let small: string;
  let mounted = false;
  let skipReason = '';

  beforeAll(async () => {
    work = await tempDir('space');
    storage = join(work, 'storage');
    small = join(work, 'small');
    await mkdir(join(storage, 'upload_files/t'), { recursive: true });
    for (let i = 0; i < 5; i++)
      await writeFile(join(storage, `upload_files/t/${i}.pdf`), randomBytes(1024 * 1024));
    await mkdir(small);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    mounted = r.status === 0;
    if (!mounted)
      skipReason = `cannot mount a tmpfs (needs root/CAP_SYS_ADMIN): ${(r.stderr || r.error?.message || '').trim()}`;
  });

  afterAll(async () => {
    if (mounted) spawnSync('umount', [small], { timeout: 10_000 });
    await removeDir(work);
  });

  it('is refused by the preflight with the needed and available bytes, before writing anything', async () => {
    if (!mounted) {
      console.warn(`SKIPPED: ${skipReason}`);
      return;
    }
    const error = await preflightBackup({
      storageDir: storage,
      backupDir: join(small, 'backups'),
      marginRatio: 0.1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as Error).message).toMatch(
      /^Not enough free space for the backup in .*small\/backups: needs \d+ bytes \(.*for 5 files.*\), but only \d+ bytes \(2\.0 MiB\) are available/,
    );
    await expect(
      createBackup({ storageDir: storage, backupDir: join(small, 'backups') }),
    ).rejects.toThrow(/needs \d+ bytes/);
    expect(await readdir(small)).toEqual([]);
  });

  it('leaves nothing that looks like a backup when the disk fills up mid-way', async () => {
    if (!mounted) {
      console.warn(`SKIPPED: ${skipReason}`);
      return;
    }
    const backups = join(small, 'forced');
    const error = await createBackup({
      storageDir: storage,
      backupDir: backups,
      skipPreflight: true,
      backupId: 'forced-1',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as Error).message).toMatch(
      /ran out of disk space .*No space left on device.*partial files were removed/s,
    );
    expect(await readdir(backups)).toEqual([]);
    await expect(findBackup(backups, 'forced-1')).rejects.toThrow(
      /No backup with id forced-1 .*There are no complete backups/,
    );
  });
});

describe('preflight refusals', () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir('preflight');
    await mkdir(join(work, 'storage/upload_files'), { recursive: true });
    await writeFile(join(work, 'storage/upload_files/a.txt'), 'a');
    await writeFile(join(work, 'not-a-dir'), 'x');
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it('refuses a missing storage directory, a file, and a backup directory inside the storage', async () => {
    await expect(
      preflightBackup({ storageDir: join(work, 'nope'), backupDir: join(work, 'b') }),
    ).rejects.toThrow(
      /The storage directory .*nope does not exist \(is this runner on the node that holds it/,
    );
    await expect(
      preflightBackup({ storageDir: join(work, 'not-a-dir'), backupDir: join(work, 'b') }),
    ).rejects.toThrow(/is not a directory/);
    await expect(
      preflightBackup({
        storageDir: join(work, 'storage'),
        backupDir: join(work, 'storage/upload_files/backups'),
      }),
    ).rejects.toThrow(/is inside the storage directory .*the backup would archive itself/);
    await expect(
      preflightBackup({
        storageDir: join(work, 'storage'),
        backupDir: join(work, 'b'),
        marginRatio: -1,
      }),
    ).rejects.toThrow(/marginRatio is -1/);
  });

  it('removes every file of a cancelled run', async () => {
    const ac = new AbortController();
    ac.abort();
    const backups = join(work, 'cancelled');
    await expect(
      createBackup({
        storageDir: join(work, 'storage'),
        backupDir: backups,
        backupId: 'c-1',
        signal: ac.signal,
        marginRatio: 0,
      }),
    ).rejects.toThrow('The backup c-1 was cancelled; its partial files were removed.');
    expect(await readdir(backups)).toEqual([]);
  });

  it('estimates the sizes of a tree it accepts', async () => {
    const report = await preflightBackup({
      storageDir: join(work, 'storage'),
      backupDir: join(work, 'b', 'c'),
    });
    expect(report).toMatchObject({ files: 1, dirs: 1, dataBytes: 1, skipped: 0 });
    expect(report.requiredBytes).toBeGreaterThan(report.estimatedBackupBytes);
    expect(report.availableBytes).toBeGreaterThan(report.requiredBytes);
    expect(report.zstdVersion).toMatch(/zstandard|zstd/i);
  });
});
