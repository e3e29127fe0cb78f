import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createBackup,
  restoreBackup,
  verifyBackup,
  type CreateBackupResult,
} from '@dify-storage/backup';
import * as h from './helpers.js';

const { run, snapshotTree, withoutSkipped } = h;

/** `zstd -lv`: how many frames the file holds. */
function frameCount(path: string): number {
  const r = run('zstd', ['-lv', path]);
  const m = /# Zstandard Frames: (\d+)/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`zstd -lv ${path}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

describe('the archive compressed in-process (node:zlib zstd)', () => {
  let work: string;
  let storage: string;
  let result: CreateBackupResult;

  beforeAll(async () => {
    work = await h.tempDir('compat');
    storage = join(work, 'storage');
    await mkdir(storage);
    await h.makeSampleTree(storage);
    // Enough small files that the 2 MiB buffers handed to zstd end between and inside files.
    await mkdir(join(storage, 'upload_files/many'), { recursive: true });
    for (let i = 0; i < 300; i++) {
      const body = i % 2 ? randomBytes(20_000 + i) : Buffer.from(`text ${i} `.repeat(3000 + i));
      await writeFile(join(storage, `upload_files/many/${String(i).padStart(3, '0')}.bin`), body);
    }
    result = await createBackup({
      storageDir: storage,
      backupDir: join(work, 'b'),
      marginRatio: 0,
    });
  });
  afterAll(() => h.removeDir(work));

  it('is a zstd file that zstd -t, GNU tar and the restore path read', async () => {
    expect(run('zstd', ['-t', '-q', result.archivePath]).code).toBe(0);
    const expected = withoutSkipped(await snapshotTree(storage));

    const gnu = join(work, 'gnu');
    await mkdir(gnu);
    expect(run('tar', ['--zstd', '-xpf', result.archivePath, '-C', gnu]).stderr).toBe('');
    expect(await snapshotTree(gnu)).toEqual(expected);

    const restored = join(work, 'restored');
    await restoreBackup({
      archivePath: result.archivePath,
      manifestPath: result.manifestPath,
      targetDir: restored,
    });
    expect(await snapshotTree(restored)).toEqual(expected);
  });

  it('an archive written the old way (one zstd stream from the zstd CLI) still verifies and restores', async () => {
    // The tar stream is unchanged; before, a zstd child process compressed it as one frame.
    const old = join(work, 'old.tar.zst');
    const r = run('sh', [
      '-c',
      `zstd -q -d -c '${result.archivePath}' | zstd -q -3 -T0 -o '${old}'`,
    ]);
    expect(r.code).toBe(0);
    expect(frameCount(old)).toBe(1);
    await expect(
      verifyBackup({ archivePath: old, manifestPath: result.manifestPath }),
    ).resolves.toMatchObject({ files: result.record.counts.files });
    const restored = join(work, 'restored-old');
    await restoreBackup({
      archivePath: old,
      manifestPath: result.manifestPath,
      targetDir: restored,
    });
    expect(await snapshotTree(restored)).toEqual(withoutSkipped(await snapshotTree(storage)));
  });
});
