import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { S3Credentials, S3Target } from '@dify-storage/s3';
import {
  S3Transport,
  SyncConfigError,
  formatSummary,
  syncFromBucket,
  syncToBucket,
  verifyBucket,
  writeMd5List,
  type SyncReport,
} from '../src/index.js';
import { rcloneEnv } from '../../../action-tests/src/proving-ground/s3.js';
import { bytes, getObject, listKeys, newBucket, tempDir, writeFile } from './helpers.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** Runs Debian's rclone against the target with an env-only remote (no config file, no argv secrets). */
async function rclone(target: S3Target, args: string[]): Promise<{ code: number; out: string }> {
  const env = rcloneEnv(target);
  try {
    const r = await run('/usr/bin/rclone', args, { env, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('syncToBucket / verifyBucket / syncFromBucket against RGW', () => {
  let target: S3Target;
  let root: string;
  let stateDir: string;
  let first: SyncReport;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    target = await newBucket('sync-rt');
    root = tempDir('rt');
    stateDir = tempDir('rt-state');
    const add = (rel: string, b: Buffer): void => {
      files.set(rel, b);
      writeFile(root, rel, b);
    };
    for (let i = 0; i < 60; i++)
      add(`upload_files/tenant-${i % 3}/${i}-file.txt`, bytes(4096 + i * 997, i));
    add('upload_files/t/中文 名字.pdf', bytes(9000, 1001));
    add('image_files/t/uuid..png', bytes(3000, 1002));
    add('tools/t/with space & (parens)+plus.bin', bytes(100, 1003));
    add('privkeys/t/private.pem', Buffer.from('-----BEGIN RSA PRIVATE KEY-----\n'));
    add('zero-length', Buffer.alloc(0));
    add('big/over-64MiB.bin', bytes(70 * MiB + 12345, 7));
    add('mid/streamed-12MiB.bin', bytes(12 * MiB + 1, 8));
    fs.mkdirSync(path.join(root, 'empty/dir'), { recursive: true });
    fs.symlinkSync('/etc/passwd', path.join(root, 'upload_files/link-to-passwd'));
    first = await syncToBucket({
      root,
      target,
      stateDir,
      concurrency: 16,
      partSize: 8 * MiB,
      multipartThreshold: 64 * MiB,
    });
  }, 120_000);

  const extraDirs: string[] = [];

  afterAll(() => {
    for (const d of [root, stateDir, ...extraDirs]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('copies every regular file under its relative path, multipart above the threshold', async () => {
    expect(first.ok).toBe(true);
    expect(first.counts.copied).toBe(files.size);
    expect(first.counts.unsupported).toBe(1);
    expect(first.unsupported[0]).toMatchObject({
      path: 'upload_files/link-to-passwd',
      reason: 'symlink',
    });
    expect(first.counts.emptyDirs).toBe(1);
    expect(first.requests.CreateMultipartUpload).toBe(1);
    expect(first.requests.UploadPart).toBe(9);
    expect(formatSummary(first)).toContain('copied 67');
    const keys = await listKeys(target);
    expect([...keys.keys()].sort()).toEqual([...files.keys()].sort());
    for (const rel of [
      'upload_files/t/中文 名字.pdf',
      'image_files/t/uuid..png',
      'tools/t/with space & (parens)+plus.bin',
      'zero-length',
    ]) {
      expect(sha(await getObject(target, rel))).toBe(sha(files.get(rel)!));
    }
    const t = new S3Transport(target);
    const head = await t.headObject('big/over-64MiB.bin');
    t.close();
    expect(head?.etag).toMatch(/-9$/);
    expect(head?.metadata.sha256).toBe(sha(files.get('big/over-64MiB.bin')!));
    expect(head?.metadata.md5chksum).toBe(
      createHash('md5').update(files.get('big/over-64MiB.bin')!).digest('base64'),
    );
    expect(head?.metadata.mtime).toMatch(/^\d+(\.\d+)?$/);
  });

  it('re-syncs an unchanged tree with zero PUT and zero HEAD', async () => {
    const r = await syncToBucket({ root, target, stateDir, mode: 'delta' });
    expect(r.counts).toMatchObject({ copied: 0, skipped: files.size, failed: 0 });
    expect(Object.keys(r.requests).sort()).toEqual(['GetBucketLocation', 'ListObjectsV2']);
  });

  it('uploads only a same-size modification in delta mode', async () => {
    const rel = 'upload_files/tenant-0/0-file.txt';
    const b = bytes(files.get(rel)!.length, 999);
    files.set(rel, b);
    fs.writeFileSync(path.join(root, rel), b);
    const r = await syncToBucket({ root, target, stateDir, mode: 'delta' });
    expect(r.counts).toMatchObject({ copied: 1, skipped: files.size - 1 });
    expect(r.requests.PutObject).toBe(1);
    expect(r.requests.HeadObject).toBeUndefined();
    expect(sha(await getObject(target, rel))).toBe(sha(b));
  });

  it('verifies the tree, with and without the journal, and with full read-back', async () => {
    const quick = await verifyBucket({ root, target, stateDir });
    expect(quick.ok).toBe(true);
    expect(quick.counts.matched).toBe(files.size);
    expect(quick.requests.HeadObject).toBeUndefined();
    const full = await verifyBucket({ root, target, readBack: 1, partSize: 8 * MiB });
    expect(full.ok).toBe(true);
    expect(full.counts.readBack).toBe(files.size);
  }, 60_000);

  it('reports every difference against a manifest', async () => {
    const manifest = [...files.entries()].map(([p, b]) => ({
      path: p,
      size: b.length,
      sha256: sha(b),
    }));
    manifest.push({ path: 'not/uploaded.txt', size: 3, sha256: sha(Buffer.from('abc')) });
    const wrong = manifest.find((m) => m.path === 'privkeys/t/private.pem')!;
    wrong.sha256 = sha(Buffer.from('other'));
    const extra = manifest.findIndex((m) => m.path === 'zero-length');
    manifest.splice(extra, 1);
    const r = await verifyBucket({ manifest, target });
    expect(r.ok).toBe(false);
    expect(r.counts).toMatchObject({ missing: 1, extra: 1, hash: 1, matched: files.size - 2 });
    expect(r.differences.map((d) => `${d.kind}:${d.path}`).sort()).toEqual(
      ['extra:zero-length', 'hash:privkeys/t/private.pem', 'missing:not/uploaded.txt'].sort(),
    );
  }, 60_000);

  it('agrees with rclone check (against the tree and against the emitted md5 list)', async () => {
    const sums = path.join(stateDir, 'md5sums.txt');
    const n = await writeMd5List({ stateDir, target, outFile: sums });
    expect(n).toBe(files.size);
    const viaList = await rclone(target, [
      'check',
      '--checkfile',
      'MD5',
      sums,
      `ceph:${target.bucket}`,
    ]);
    expect(viaList.out).toContain('0 differences found');
    expect(viaList.code).toBe(0);
    const viaTree = await rclone(target, ['check', root, `ceph:${target.bucket}`]);
    expect(viaTree.out).toContain('0 differences found');
  }, 60_000);

  it('restores objects newer than the manifest, refusing hostile keys, writing nothing outside the root', async () => {
    const hostile = [
      '../escape.txt',
      'a/../../escape2.txt',
      '/abs.txt',
      'back\\slash.txt',
      'double//slash.txt',
      `${'n'.repeat(256)}.txt`,
      'dir-marker/',
    ];
    const t = new S3Transport(target);
    for (const k of [...hostile, 'upload_files/t/new after cutover.txt']) {
      const b = Buffer.from(`hostile ${k}`);
      await t.putObject(k, b, createHash('md5').update(b).digest(), { mtime: '1700000000.5' });
    }
    t.close();
    const outer = tempDir('rev');
    extraDirs.push(outer);
    const dest = path.join(outer, 'root');
    fs.mkdirSync(dest);
    fs.symlinkSync('/tmp', path.join(dest, 'upload_files'));
    const manifest = [...files.entries()].map(([p, b]) => ({
      path: p,
      size: b.length,
      sha256: sha(b),
    }));
    const r = await syncFromBucket({ root: dest, target, manifest, throwOnFailure: false });
    // The one legitimate new object goes through a symlinked directory: refused too.
    expect(r.counts.refused).toBe(hostile.length + 1);
    expect(r.refused.map((x) => x.path)).toContain('upload_files/t/new after cutover.txt');
    expect(r.counts.copied).toBe(0);
    expect(fs.readdirSync(outer)).toEqual(['root']);
    expect(fs.existsSync('/tmp/t/new after cutover.txt')).toBe(false);

    fs.unlinkSync(path.join(dest, 'upload_files'));
    const r2 = await syncFromBucket({ root: dest, target, manifest });
    expect(r2.counts).toMatchObject({
      copied: 1,
      refused: hostile.length,
      skipped: files.size,
      failed: 0,
    });
    const restored = path.join(dest, 'upload_files/t/new after cutover.txt');
    expect(fs.readFileSync(restored, 'utf8')).toBe('hostile upload_files/t/new after cutover.txt');
    expect(fs.statSync(restored).mtimeMs).toBe(1700000000500);
    expect(fs.readdirSync(outer)).toEqual(['root']);
    expect(fs.readdirSync(path.join(dest, 'upload_files/t'))).toEqual(['new after cutover.txt']);

    const all = tempDir('rev-all');
    extraDirs.push(all);
    const r3 = await syncFromBucket({ root: all, target, exclude: ['big/'] });
    expect(r3.counts.copied).toBe(files.size);
    expect(sha(fs.readFileSync(path.join(all, 'upload_files/t/中文 名字.pdf')))).toBe(
      sha(files.get('upload_files/t/中文 名字.pdf')!),
    );
    fs.rmSync(outer, { recursive: true, force: true });
    fs.rmSync(all, { recursive: true, force: true });
  }, 60_000);
});

describe('a target that cannot work fails before any write, with a clear error', () => {
  let target: S3Target;
  let root: string;
  beforeAll(async () => {
    target = await newBucket('sync-err');
    root = tempDir('err');
    writeFile(root, 'a.txt', 'a');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it.each([
    [
      'wrong credentials',
      (t: S3Target) => ({
        ...t,
        credentials: { accessKeyId: 'NOSUCHKEY0000000000', secretAccessKey: 'wrong' },
      }),
      /credentials rejected/,
    ],
    [
      'wrong secret',
      (t: S3Target) => ({
        ...t,
        credentials: { ...(t.credentials as S3Credentials), secretAccessKey: 'wrong' },
      }),
      /credentials rejected.*SignatureDoesNotMatch/,
    ],
    [
      'missing bucket',
      (t: S3Target) => ({ ...t, bucket: `${t.bucket}-missing` }),
      /bucket ".*-missing" does not exist/,
    ],
    [
      'unreachable endpoint',
      (t: S3Target) => ({ ...t, endpoint: 'http://127.0.0.1:9' }),
      /S3 endpoint unreachable.*ECONNREFUSED/,
    ],
  ])('%s', async (_name, mutate, message) => {
    await expect(syncToBucket({ root, target: mutate(target) })).rejects.toThrow(message);
    await expect(syncToBucket({ root, target: mutate(target) })).rejects.toBeInstanceOf(
      SyncConfigError,
    );
    expect((await listKeys(target)).size).toBe(0);
  });

  it('rejects bad options by name', async () => {
    await expect(syncToBucket({ root, target, concurrency: 0 })).rejects.toThrow(
      /concurrency must be an integer from 1/,
    );
    await expect(syncToBucket({ root, target, partSize: 1024 })).rejects.toThrow(
      /partSize must be an integer from 5242880/,
    );
    await expect(syncToBucket({ root: path.join(root, 'nope'), target })).rejects.toThrow(
      /storage root .* is not accessible/,
    );
  });
});
