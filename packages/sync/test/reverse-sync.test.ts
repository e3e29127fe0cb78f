import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { comparePaths } from '@dify-storage/common';
import type { S3Target } from '@dify-storage/s3';
import {
  S3Transport,
  syncFromBucket,
  syncToBucket,
  verifyBucket,
  type SyncReport,
} from '../src/index.js';
import { manifestJoinLimits } from '../src/manifest.js';
import { bytes, newBucket, tempDir, writeFile } from './helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const here = path.dirname(fileURLToPath(import.meta.url));

/** syncFromBucket in a child with a deadline (a join looping forever would block this process). */
function syncFromBucketBounded(options: object): { signal: string | null; report?: SyncReport } {
  const child = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', path.join(here, 'fixtures/from-bucket-child.ts')],
    {
      input: JSON.stringify(options),
      cwd: path.resolve(here, '../../..'),
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return {
    signal: child.signal,
    ...(child.status === 0 ? { report: JSON.parse(child.stdout) as SyncReport } : {}),
  };
}
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();

// Rollback's copy back: the tree was just restored from the backup, the bucket holds the migrated
// objects plus what Dify wrote since. Issue 17 §3: the objects the backup already has are
// decided from the listing, the manifest and the restored files, not by a HEAD each.
describe('syncFromBucket against a restored tree and its backup manifest', () => {
  let target: S3Target;
  let restored: string;
  const dirs: string[] = [];
  const files = new Map<string, Buffer>();
  let manifestFile: string;
  let state: string;
  const pem = 'privkeys/t-1/private.pem';
  // Rewritten in place between the backup and the bulk copy (Dify rewrites keyword files).
  const kw = 'keyword_files/ds-1/keyword_table.json';
  const kwUploaded = Buffer.from('{"__type__":"keyword_table","table":{"b":["2"]}}');

  beforeAll(async () => {
    target = await newBucket('rev-join');
    const src = tempDir('rev-src');
    restored = tempDir('rev-restored');
    state = tempDir('rev-state');
    dirs.push(src, restored, state);
    for (let i = 0; i < 40; i++) {
      // `a` beside `a-b`: the backup's order and the listing's disagree there.
      const rel = i % 4 === 0 ? `upload_files/a-b/${i}.pdf` : `upload_files/a/${i}-x.pdf`;
      files.set(rel, bytes(100 + i * 37, i));
    }
    files.set(pem, Buffer.from('-----BEGIN PRIVATE KEY----- old\n'));
    files.set(kw, Buffer.from('{"__type__":"keyword_table","table":{"a":["1"]}}'));
    for (const [rel, b] of files) {
      writeFile(src, rel, rel === kw ? kwUploaded : b);
      writeFile(restored, rel, b);
    }
    await syncToBucket({ root: src, target, stateDir: state });
    const lines = [...files.entries()]
      .map(([p, b]) => ({ type: 'file', path: p, size: b.length, mode: '0644', sha256: sha(b) }))
      .sort((x, y) => comparePaths(x.path, y.path));
    manifestFile = path.join(src, '..', `${path.basename(src)}.ndjson`);
    fs.writeFileSync(manifestFile, lines.map((l) => JSON.stringify(l)).join('\n'));
    // Since the cutover: two new uploads, and the key rewritten in place (same size).
    const t = new S3Transport(target);
    for (const [k, b] of [
      ['upload_files/a/new-1.pdf', bytes(500, 900)],
      ['upload_files/a-b/new-2.pdf', bytes(700, 901)],
      [pem, Buffer.from('-----BEGIN PRIVATE KEY----- new\n')],
    ] as const)
      await t.putObject(k, b, md5(b), { sha256: sha(b) });
    t.close();
  }, 120_000);

  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(manifestFile, { force: true });
  });

  it('copies only the new and rewritten objects, with no HEAD for the files already on disk', async () => {
    const r = await syncFromBucket({ root: restored, target, manifest: manifestFile });
    expect(r.counts).toMatchObject({ copied: 4, skipped: files.size - 2, failed: 0, refused: 0 });
    expect(r.counts.verifiedByRead).toBe(files.size - 2);
    // The rewritten keys: md5 differs from the file on disk, so one HEAD each compares its sha256.
    expect(r.requests.HeadObject ?? 0).toBe(2);
    expect(r.requests.GetObject).toBe(4);
    expect(fs.readFileSync(path.join(restored, kw))).toEqual(kwUploaded);
    expect(fs.readFileSync(path.join(restored, pem), 'utf8')).toContain('new');
    expect(fs.readFileSync(path.join(restored, 'upload_files/a-b/new-2.pdf'))).toEqual(
      bytes(700, 901),
    );
    expect(
      fs.readdirSync(path.join(restored, 'upload_files/a')).some((n) => n.startsWith('.dsm-')),
    ).toBe(false);
  }, 60_000);

  it('verifies the bucket against the manifest file streamed, and against one out of order', async () => {
    const want = {
      files: files.size,
      objects: files.size + 2,
      matched: files.size - 2,
      extra: 2,
      hash: 2,
      missing: 0,
    };
    const r = await verifyBucket({ manifest: manifestFile, target });
    expect(r.counts).toMatchObject(want);
    expect(
      r.differences
        .filter((d) => d.kind === 'hash')
        .map((d) => d.path)
        .sort(),
    ).toEqual([kw, pem]);
    const shuffled = `${manifestFile}.verify-rev`;
    fs.writeFileSync(
      shuffled,
      fs.readFileSync(manifestFile, 'utf8').split('\n').reverse().join('\n'),
    );
    try {
      const again = await verifyBucket({ manifest: shuffled, target });
      expect(again.counts).toMatchObject(want);
    } finally {
      fs.rmSync(shuffled, { force: true });
    }
  }, 60_000);

  it('leaves the manifest objects alone when the tree lacks them (one HEAD each), and when the manifest is out of order', async () => {
    const empty = tempDir('rev-empty');
    dirs.push(empty);
    const r = await syncFromBucket({ root: empty, target, manifest: manifestFile });
    expect(r.counts).toMatchObject({ copied: 4, skipped: files.size - 2, failed: 0 });
    expect(r.requests.HeadObject).toBe(files.size);
    const shuffled = `${manifestFile}.rev`;
    const lines = fs.readFileSync(manifestFile, 'utf8').split('\n').reverse();
    fs.writeFileSync(shuffled, lines.join('\n'));
    try {
      const again = tempDir('rev-again');
      dirs.push(again);
      const r2 = await syncFromBucket({ root: again, target, manifest: shuffled });
      expect(r2.counts).toMatchObject({ copied: 4, skipped: files.size - 2, failed: 0 });
    } finally {
      fs.rmSync(shuffled, { force: true });
    }
  }, 60_000);

  it("with the bulk copy's state, settles what still holds the backup's bytes by its ETag, reading no file", async () => {
    // An empty tree: without the state each object the manifest holds would cost a HEAD.
    const empty = tempDir('rev-state-empty');
    dirs.push(empty);
    const r = await syncFromBucket({
      root: empty,
      target,
      manifest: manifestFile,
      stateDir: state,
    });
    // Copied: the two new objects, private.pem rewritten since the cutover (the state's md5 of
    // the backup's bytes is not its ETag), and the keyword table the bulk copy uploaded after a
    // rewrite (its sha256 is not the manifest's: no md5 from the state, one HEAD).
    expect(r.counts).toMatchObject({ copied: 4, skipped: files.size - 2, failed: 0 });
    expect(r.counts.verifiedByRead).toBe(0);
    expect(r.requests.HeadObject ?? 0).toBe(1);
    expect(fs.readFileSync(path.join(empty, pem), 'utf8')).toContain('new');
    expect(fs.readFileSync(path.join(empty, kw))).toEqual(kwUploaded);
    expect(fs.existsSync(path.join(empty, 'upload_files/a/1-x.pdf'))).toBe(false);
  }, 60_000);

  it('falls back to the manifest sorted in key order when too many records wait (`a-b` beside `a`), with the same outcome', async () => {
    const limits = { ...manifestJoinLimits };
    // The 30 records of upload_files/a/ wait while the keys of upload_files/a-b/ are listed.
    Object.assign(manifestJoinLimits, { pending: 4 });
    try {
      const into = tempDir('rev-pending');
      dirs.push(into);
      const r = await syncFromBucket({
        root: into,
        target,
        manifest: manifestFile,
        stateDir: state,
      });
      expect(r.counts).toMatchObject({ copied: 4, skipped: files.size - 2, failed: 0 });
      expect(r.requests.HeadObject ?? 0).toBe(1);
      const v = await verifyBucket({ manifest: manifestFile, target });
      expect(v.counts).toMatchObject({ files: files.size, matched: files.size - 2, hash: 2 });
    } finally {
      Object.assign(manifestJoinLimits, limits);
    }
  }, 60_000);

  it("with other trees' manifests, leaves alone what one of them holds; the tree's own record of a path stands", async () => {
    const other = `${manifestFile}.other`;
    const newPem = Buffer.from('-----BEGIN PRIVATE KEY----- new\n');
    const records = [
      { path: 'upload_files/a/new-1.pdf', size: 500, sha256: sha(bytes(500, 900)) },
      { path: pem, size: newPem.length, sha256: sha(newPem) },
    ].sort((x, y) => comparePaths(x.path, y.path));
    fs.writeFileSync(other, records.map((r) => JSON.stringify(r)).join('\n'));
    try {
      const into = tempDir('rev-others');
      dirs.push(into);
      const r = await syncFromBucket({
        root: into,
        target,
        manifest: manifestFile,
        otherManifests: [other],
        stateDir: state,
      });
      // new-1 is the other tree's (one HEAD proves it); private.pem is still this tree's
      // rewritten key (its own record stands); new-2 and the keyword table as before.
      expect(r.counts).toMatchObject({ copied: 3, skipped: files.size - 1, failed: 0 });
      expect(r.requests.HeadObject ?? 0).toBe(2);
      expect(fs.existsSync(path.join(into, 'upload_files/a/new-1.pdf'))).toBe(false);
      expect(fs.readFileSync(path.join(into, pem))).toEqual(newPem);
    } finally {
      fs.rmSync(other, { force: true });
    }
  }, 60_000);

  it('finishes when a record waiting between the two orders is named by no key (deleted since)', async () => {
    // upload_files/a/ records wait while upload_files/a-b/ keys are listed; one of them is gone
    // from the bucket: the join must drop it (it looped forever on it without onUnmatched).
    const rel = 'upload_files/a/1-x.pdf';
    const b = files.get(rel)!;
    const t = new S3Transport(target);
    await t.deleteObject(rel);
    try {
      const into = tempDir('rev-deleted');
      dirs.push(into);
      const { signal, report } = syncFromBucketBounded({
        root: into,
        target,
        manifest: manifestFile,
        stateDir: state,
      });
      expect(signal).toBeNull();
      expect(report!.counts).toMatchObject({ copied: 4, skipped: files.size - 3, failed: 0 });
    } finally {
      await t.putObject(rel, b, md5(b), { sha256: sha(b) });
      t.close();
    }
  }, 60_000);

  it('compares a key keyToPath renames with the file on disk, without upsetting the join', async () => {
    // The key fix-up's copy of a file at its verbatim database key: a leading space lists it first.
    const rel = 'upload_files/a/1-x.pdf';
    const t = new S3Transport(target);
    try {
      const b = files.get(rel)!;
      await t.putObject(` ${rel}`, b, md5(b), { sha256: sha(b) });
      // `restored` holds every object by now: only the two keys the manifest lacks are copied.
      const r = await syncFromBucket({
        root: restored,
        target,
        manifest: manifestFile,
        keyToPath: (k) => k.trimStart(),
      });
      expect(r.counts).toMatchObject({ copied: 2, skipped: files.size + 1, failed: 0 });
    } finally {
      await t.deleteObject(` ${rel}`);
      t.close();
    }
  }, 60_000);

  it('returns only once every queued download is written and counted, one at a time', async () => {
    // Downloads queue apart from the checks (issue 17 §3): with one slot, nearly every object
    // waits in the queue when the listing ends, and the run must still wait for each.
    const into = tempDir('rev-queue');
    dirs.push(into);
    const copied: string[] = [];
    let lastDone = 0;
    const r = await syncFromBucket({
      root: into,
      target,
      concurrency: 1,
      onCopied: (p) => copied.push(p),
      onProgress: (e) => (lastDone = e.filesDone),
      progressIntervalMs: 1,
    });
    const objects = files.size + 2;
    expect(r.counts).toMatchObject({ files: objects, copied: objects, failed: 0, refused: 0 });
    expect(copied).toHaveLength(objects);
    expect(lastDone).toBe(objects);
    for (const [rel, b] of files)
      if (rel !== pem)
        expect(fs.readFileSync(path.join(into, rel))).toEqual(rel === kw ? kwUploaded : b);
    expect(fs.readFileSync(path.join(into, pem), 'utf8')).toContain('new');
    const left = fs.readdirSync(into, { recursive: true }).map(String);
    expect(left.filter((n) => n.includes('.dsm-'))).toEqual([]);
  }, 60_000);
});

// A run that fails (here: the listing's second page refused) must not leave downloads running:
// the rollback goes on (or retries) after it returns, and nothing may write into the tree then.
describe('syncFromBucket that fails while downloads are queued', () => {
  let target: S3Target;
  let proxy: http.Server;
  const count = 1100; // two pages of the listing

  beforeAll(async () => {
    target = await newBucket('rev-fail');
    const t = new S3Transport(target);
    try {
      for (let i = 0; i < count; i += 32)
        await Promise.all(
          Array.from({ length: Math.min(32, count - i) }, (_, j) => {
            const b = Buffer.from(`object ${i + j}`);
            return t.putObject(`upload_files/t/${String(i + j).padStart(5, '0')}`, b, md5(b), {});
          }),
        );
    } finally {
      t.close();
    }
    // Forwards to RGW (the Host header as signed); refuses every listing page after the first
    // and slows each GET of an object, so that most downloads are still queued at the failure.
    const rgw = new URL(target.endpoint!);
    proxy = http.createServer((req, res) => {
      if (req.url?.includes('continuation-token=')) {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>',
        );
        return;
      }
      const forward = () =>
        req.pipe(
          http.request(
            {
              host: rgw.hostname,
              port: rgw.port,
              method: req.method,
              path: req.url,
              headers: req.headers,
            },
            (up) => {
              res.writeHead(up.statusCode ?? 502, up.headers);
              up.pipe(res);
            },
          ),
        );
      if (req.method === 'GET' && !req.url?.includes('list-type')) setTimeout(forward, 20);
      else forward();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  }, 120_000);

  afterAll(async () => {
    await new Promise((r) => proxy.close(r));
  });

  it('rejects, and writes nothing into the tree after it has returned', async () => {
    const into = tempDir('rev-fail');
    const { port } = proxy.address() as AddressInfo;
    const viaProxy = { ...target, endpoint: `http://127.0.0.1:${port}` };
    const written = (): number =>
      fs
        .readdirSync(into, { recursive: true })
        .map(String)
        .filter((n) => n.startsWith('upload_files/t/') && !n.includes('.dsm-')).length;
    await expect(syncFromBucket({ root: into, target: viaProxy, concurrency: 1 })).rejects.toThrow(
      /AccessDenied|403/,
    );
    const atReturn = written();
    expect(atReturn).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(written()).toBe(atReturn);
    fs.rmSync(into, { recursive: true, force: true });
  }, 60_000);
});
