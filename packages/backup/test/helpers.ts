import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `dsm-backup-${label}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

const TENANT = '3f1c2a9e-6a55-4b8e-9d1e-0c6b2f7d9a11';

/**
 * A small storage tree with everything that trips archivers: unicode and spaces, `..png`,
 * a backslash and a newline in names, a path over 100 bytes, empty and nested directories,
 * a 0-byte file, a 4 MiB file (streamed path), unusual modes, old mtimes, and a symlink and a
 * FIFO that must be skipped.
 */
export async function makeSampleTree(root: string): Promise<{ files: number; dirs: number }> {
  const files: [string, Buffer, number?][] = [
    [`upload_files/${TENANT}/0b6f3c1e-1d2a-4c55-8f00-2a1b3c4d5e6f.pdf`, randomBytes(200_000)],
    [
      `upload_files/${TENANT}/données été.txt`,
      Buffer.from('café, naïve, Ünïcödé\n'.repeat(50)),
      0o600,
    ],
    [`upload_files/${TENANT}/big.bin`, randomBytes(4 * 1024 * 1024 + 123)],
    [`image_files/${TENANT}/9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d..png`, randomBytes(30_000)],
    ['with space/a b c.docx', randomBytes(10_000), 0o640],
    ['日本語/ファイル名 テスト.pdf', randomBytes(5_000)],
    ['back\\slash.txt', Buffer.from('backslash\n')],
    ['new\nline.txt', Buffer.from('newline\n')],
    [`deep/${'x'.repeat(60)}/${'y'.repeat(60)}/${'z'.repeat(80)}.bin`, randomBytes(1000)],
    ['tools/run.sh', Buffer.from('#!/bin/sh\necho hi\n'), 0o755],
    ['zero.txt', Buffer.alloc(0)],
    [
      `privkeys/${TENANT}/private.pem`,
      Buffer.from('-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n'),
      0o600,
    ],
  ];
  for (const [path, content, mode] of files) {
    const abs = join(root, path);
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, content);
    if (mode !== undefined) await chmod(abs, mode);
  }
  await mkdir(join(root, 'website_files'), { recursive: true });
  await mkdir(join(root, 'tools/empty/inner'), { recursive: true });
  await mkdir(join(root, 'restricted'), { mode: 0o750 });
  await writeFile(join(root, 'restricted/secret.txt'), 'x');
  // Old, sub-second mtimes (µs resolution is what utimes can set).
  await utimes(join(root, 'zero.txt'), 1_600_000_000 + 1e-6, 1_600_000_000 + 1.5e-6);
  await utimes(join(root, 'with space/a b c.docx'), 1_500_000_000.25, 1_500_000_000.123457);
  await utimes(join(root, 'website_files'), 1_400_000_000, 1_400_000_000.5);
  await symlink('/etc/passwd', join(root, 'link-to-passwd'));
  spawnSync('mkfifo', [join(root, 'a-fifo')]);
  return { files: files.length + 1, dirs: 0 };
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  /** mtime in whole microseconds (what every restore path can reproduce). */
  mtimeUs: string;
}

/** Everything under `root` except the root itself, keyed by relative path. */
export async function snapshotTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs, { bigint: true });
      const base = {
        mode: (Number(st.mode) & 0o7777).toString(8),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtimeUs: String(st.mtimeNs / 1000n),
      };
      if (st.isDirectory()) {
        out.set(path, { type: 'dir', ...base });
        await walk(abs, path);
      } else if (st.isFile()) {
        const content = await readFile(abs);
        out.set(path, {
          type: 'file',
          ...base,
          size: content.length,
          sha256: createHash('sha256').update(content).digest('hex'),
        });
      } else {
        out.set(path, { type: st.isSymbolicLink() ? 'symlink' : 'other', ...base });
      }
    }
  };
  await walk(root, '');
  return out;
}

/** The source snapshot as a restore should reproduce it: without symlinks, FIFOs, sockets. */
export function withoutSkipped(tree: Map<string, TreeEntry>): Map<string, TreeEntry> {
  return new Map([...tree].filter(([, e]) => e.type === 'file' || e.type === 'dir'));
}

export function run(
  cmd: string,
  args: string[],
  cwd?: string,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
