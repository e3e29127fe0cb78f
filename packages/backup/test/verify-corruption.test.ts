import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFile, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BackupVerificationError,
  createBackup,
  restoreBackup,
  verifyBackup,
  type CreateBackupResult,
} from '@dify-storage/backup';
import { makeSampleTree, removeDir, tempDir } from './helpers.js';

describe('verifyBackup on damaged backups', () => {
  let work: string;
  let result: CreateBackupResult;

  beforeAll(async () => {
    work = await tempDir('verify');
    const storage = join(work, 'storage');
    await mkdir(storage);
    await makeSampleTree(storage);
    result = await createBackup({
      storageDir: storage,
      backupDir: join(work, 'backups'),
      marginRatio: 0,
    });
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it('fails loudly when one byte of the archive is flipped', async () => {
    const damaged = join(work, 'flipped.tar.zst');
    await copyFile(result.archivePath, damaged);
    const size = (await stat(damaged)).size;
    const fh = await open(damaged, 'r+');
    const at = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
    await fh.close();

    const error = await verifyBackup({
      archivePath: damaged,
      manifestPath: result.manifestPath,
      expectedArchiveSha256: result.record.archive.sha256,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupVerificationError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Backup verification FAILED for .*flipped\.tar\.zst: \d+ difference/);
    // zstd's checksum or the tar content catches it; the archive hash never matches the record.
    expect(message).toMatch(/archive-unreadable|sha256-differs/);
    expect((error as BackupVerificationError).countsByKind).toMatchObject({
      'archive-sha256-differs': 1,
    });
  });

  it('names the files whose content or presence differs from the manifest', async () => {
    const lines = (await readFile(result.manifestPath, 'utf8')).trim().split('\n');
    const edited = lines
      .map((line) => {
        const m = JSON.parse(line);
        if (m.path === 'zero.txt') m.sha256 = '0'.repeat(64);
        if (m.path === 'tools/run.sh') return null; // drop: the archive then holds an extra file
        return JSON.stringify(m);
      })
      .filter((l) => l !== null);
    edited.push(
      JSON.stringify({
        type: 'file',
        path: 'zz-missing.bin',
        size: 1,
        mtimeNs: '0',
        mode: '0644',
        uid: 0,
        gid: 0,
        sha256: 'a'.repeat(64),
      }),
    );
    const manifestPath = join(work, 'edited.manifest.ndjson');
    await writeFile(manifestPath, edited.join('\n') + '\n');

    const error = (await verifyBackup({ archivePath: result.archivePath, manifestPath }).catch(
      (e: unknown) => e,
    )) as BackupVerificationError;
    expect(error).toBeInstanceOf(BackupVerificationError);
    expect(error.countsByKind).toEqual({
      'sha256-differs': 1,
      'not-in-manifest': 1,
      'missing-from-archive': 1,
    });
    expect(error.message).toContain('sha256-differs "zero.txt"');
    expect(error.message).toContain('not-in-manifest "tools/run.sh"');
    expect(error.message).toContain('missing-from-archive "zz-missing.bin"');

    // A restore with that manifest refuses the mismatching file and fails as a whole.
    const target = join(work, 'restore-edited');
    await expect(
      restoreBackup({ archivePath: result.archivePath, manifestPath, targetDir: target }),
    ).rejects.toThrow(/sha256-differs "zero.txt"/);
    await expect(stat(join(target, 'zero.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('lists the first differences and counts the rest', async () => {
    const lines = (await readFile(result.manifestPath, 'utf8')).trim().split('\n');
    const extra = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        type: 'file',
        path: `zzz/${String(i).padStart(2, '0')}`,
        size: 1,
        mtimeNs: '0',
        mode: '0644',
        uid: 0,
        gid: 0,
        sha256: 'b'.repeat(64),
      }),
    );
    const manifestPath = join(work, 'many.manifest.ndjson');
    await writeFile(manifestPath, [...lines, ...extra].join('\n') + '\n');
    const error = (await verifyBackup({
      archivePath: result.archivePath,
      manifestPath,
      maxDifferencesListed: 5,
    }).catch((e: unknown) => e)) as BackupVerificationError;
    expect(error.differences).toHaveLength(5);
    expect(error.message).toContain('30 difference(s) (missing-from-archive: 30)');
    expect(error.message).toContain('… and 25 more');
  });
});
