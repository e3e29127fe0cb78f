import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { BackupError, createBackup, restoreBackup } from '@dify-storage/backup';
import { removeDir, tempDir } from './helpers.js';

type Entry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string;
};

/** A hostile .tar.zst written with tar-stream + zstd (not by the code under test). */
async function hostileArchive(path: string, entries: Entry[]): Promise<void> {
  const pack = tarStream.pack();
  const zstd = spawn('zstd', ['-q', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const written = pipeline(zstd.stdout, createWriteStream(path));
  const fed = pipeline(pack, zstd.stdin);
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link')
      pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? '/etc' });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name }, e.content ?? 'evil');
  }
  pack.finalize();
  await Promise.all([fed, written]);
}

describe('restoreBackup refuses entries that could escape the target', () => {
  let work: string;
  let manifest: string;

  beforeAll(async () => {
    work = await tempDir('hostile');
    manifest = join(work, 'empty.manifest.ndjson');
    await writeFile(manifest, '');
  });
  afterAll(async () => {
    await removeDir(work);
  });

  const cases: [string, Entry[], RegExp][] = [
    [
      'a .. component',
      [{ name: '../evil.txt' }],
      /Refusing archive entry "\.\.\/evil\.txt" .*'\.\.'/,
    ],
    [
      'a nested .. component',
      [{ name: 'a/', type: 'directory' }, { name: 'a/../../evil.txt' }],
      /Refusing archive entry "a\/\.\.\/\.\.\/evil\.txt"/,
    ],
    [
      'an absolute path',
      [{ name: '/tmp/evil.txt' }],
      /Refusing archive entry "\/tmp\/evil\.txt" .*absolute path/,
    ],
    [
      'a symlink',
      [{ name: 'link', type: 'symlink', linkname: '/etc' }],
      /Refusing archive entry "link" .*it is a symlink/,
    ],
    [
      'a hard link',
      [{ name: 'hard', type: 'link', linkname: 'x' }],
      /Refusing archive entry "hard" .*it is a link/,
    ],
  ];

  for (const [label, entries, message] of cases) {
    it(`stops at ${label} and writes nothing outside the target`, async () => {
      const dir = join(work, label.replace(/\W+/g, '-'));
      await mkdir(dir);
      const archive = join(dir, 'hostile.tar.zst');
      await hostileArchive(archive, entries);
      const target = join(dir, 'sub', 'target');
      const error = await restoreBackup({
        archivePath: archive,
        manifestPath: manifest,
        targetDir: target,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackupError);
      expect((error as Error).message).toMatch(message);
      expect((await readdir(dir)).sort()).toEqual(['hostile.tar.zst', 'sub']);
      expect(await readdir(join(dir, 'sub'))).toEqual(['target']);
      expect(await readdir(target)).toEqual([]);
    });
  }
});

describe('restoreBackup into a target that already has content (allowNonEmptyTarget)', () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir('nonempty');
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it('never follows a symlink planted where a directory of the backup goes, nor overwrites a file', async () => {
    const storage = join(work, 'storage');
    await mkdir(join(storage, 'upload_files'), { recursive: true });
    await writeFile(join(storage, 'upload_files/a.txt'), 'from the backup');
    await writeFile(join(storage, 'top.txt'), 'from the backup');
    const backup = await createBackup({
      storageDir: storage,
      backupDir: join(work, 'backups'),
      marginRatio: 0,
    });

    const outside = join(work, 'outside');
    await mkdir(outside);
    const target = join(work, 'target');
    await mkdir(target);
    await symlink(outside, join(target, 'upload_files'));
    await expect(
      restoreBackup({
        archivePath: backup.archivePath,
        manifestPath: backup.manifestPath,
        targetDir: target,
        allowNonEmptyTarget: true,
      }),
    ).rejects.toThrow(
      /Refusing to restore into .*upload_files: it already exists and is not a directory \(a symbolic link\)/,
    );
    expect(await readdir(outside)).toEqual([]);

    const target2 = join(work, 'target2');
    await mkdir(target2);
    await writeFile(join(target2, 'top.txt'), 'newer, keep');
    await expect(
      restoreBackup({
        archivePath: backup.archivePath,
        manifestPath: backup.manifestPath,
        targetDir: target2,
        allowNonEmptyTarget: true,
      }),
    ).rejects.toThrow(/Refusing to overwrite .*top\.txt, which already exists in the target/);
    expect(await readFile(join(target2, 'top.txt'), 'utf8')).toBe('newer, keep');
    expect((await readdir(target2)).filter((n) => n.includes('dsm-restore'))).toEqual([]);
  });
});
