import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  readSyncRecords,
  syncToBucket,
  verifyBucket,
  type SyncToBucketOptions,
} from '../src/index.js';
import type { S3Target } from '@dify-storage/s3';
import { bytes, getObject, newBucket, tempDir, writeFile } from './helpers.js';

// The freeze-window delta (issue 17 §4): after a complete copy, the delta lists only directories
// that can hold something new, and still copies (and proves by Content-MD5 and ETag) every change.

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

const TENANTS = ['t01', 't02', 't03', 't04', 't05', 't06'];

/** A small Dify-like tree: upload_files, image_files, tools per tenant, privkeys, keyword_files. */
function difyTree(root: string): void {
  for (const [i, t] of TENANTS.entries()) {
    for (let f = 0; f < 5; f++) {
      writeFile(root, `upload_files/${t}/u${f}.pdf`, bytes(300 + f, i * 10 + f));
      writeFile(root, `image_files/${t}/i${f}.png`, bytes(200 + f, i * 20 + f));
    }
    writeFile(root, `tools/${t}/abc${i}.bin`, bytes(100, i));
    writeFile(root, `privkeys/${t}/private.pem`, `-----BEGIN RSA PRIVATE KEY----- ${t} old\n`);
    writeFile(root, `keyword_files/${t}/ds${i}.txt`, `{"old": ${i}}`);
  }
}

interface Fixture {
  root: string;
  state: string;
  target: S3Target;
}

/** A bulk copy with a state directory, then a short pause so later writes have later times. */
async function copied(name: string): Promise<Fixture> {
  const target = await newBucket(`fd-${name}`);
  const root = tempDir(`fd-${name}`);
  const state = tempDir(`fd-${name}-state`);
  cleanup.push(root, state);
  difyTree(root);
  const bulk = await syncToBucket({ root, target, stateDir: state, delta: { marginMs: 0 } });
  expect(bulk.counts.copied).toBe(TENANTS.length * 13);
  await new Promise((r) => setTimeout(r, 50));
  return { root, state, target };
}

function delta(f: Fixture, extra: Partial<SyncToBucketOptions> = {}) {
  return syncToBucket({
    root: f.root,
    target: f.target,
    stateDir: f.state,
    mode: 'delta',
    delta: { marginMs: 0 },
    ...extra,
  });
}

async function objectText(target: S3Target, key: string): Promise<string> {
  return (await getObject(target, key)).toString('utf8');
}

async function same(f: Fixture): Promise<boolean> {
  return (await verifyBucket({ root: f.root, target: f.target })).ok;
}

/** Makes the last complete copy look as if it started at `ms` (edits its watermark). */
function watermarkAt(state: string, ms: number): void {
  const file = fs.readdirSync(state).find((n) => n.endsWith('.watermark.json'))!;
  const p = path.join(state, file);
  const w = JSON.parse(fs.readFileSync(p, 'utf8')) as { startedAtMs: number };
  fs.writeFileSync(p, JSON.stringify({ ...w, startedAtMs: ms }));
}

describe('freeze-window delta: directory-mtime pruning', () => {
  it('copies a new file in an old directory and lists only the directories that changed', async () => {
    const f = await copied('newfile');
    writeFile(f.root, 'upload_files/t03/new.pdf', bytes(777, 99));
    const r = await delta(f);
    expect(r.delta).toMatchObject({ strategy: 'pruned', dirsNew: 0 });
    expect(r.counts).toMatchObject({ copied: 1, failed: 0 });
    // Listed: the changed directory, plus privkeys/ and keyword_files/ (always); not the others.
    expect(r.delta!.dirsPruned).toBeGreaterThan(TENANTS.length * 2);
    expect(r.delta!.filesStated).toBe(6 + 2 * TENANTS.length);
    // Every stat'ed file is counted: the unchanged ones as skipped (the journal proves them).
    expect(r.counts.files).toBe(r.delta!.filesStated);
    expect(r.counts.skipped).toBe(r.counts.files - 1);
    // No listing of the bucket (beyond the preflight's one key) and no HEAD: the journal stands in.
    expect(r.requests.ListObjectsV2).toBe(1);
    expect(r.requests.HeadObject ?? 0).toBe(0);
    expect((await getObject(f.target, 'upload_files/t03/new.pdf')).equals(bytes(777, 99))).toBe(
      true,
    );
    expect(await same(f)).toBe(true);
    // The state as its readers see it (md5 list, verify) holds the delta's upload.
    const keys: string[] = [];
    for await (const rec of readSyncRecords(f.state, f.target)) keys.push(rec.key);
    expect(keys).toContain('upload_files/t03/new.pdf');
    // The next delta starts from this one: nothing new, nothing copied.
    const again = await delta(f);
    expect(again.counts.copied).toBe(0);
    expect(again.delta).toMatchObject({ strategy: 'pruned' });
  }, 60_000);

  it('walks into a new tenant directory and copies all of it', async () => {
    const f = await copied('tenant');
    for (let i = 0; i < 4; i++) writeFile(f.root, `upload_files/t99/n${i}.txt`, `new ${i}`);
    writeFile(f.root, 'upload_files/t99/deeper/x.bin', bytes(50, 5));
    writeFile(f.root, 'privkeys/t99/private.pem', 'new tenant key');
    const r = await delta(f);
    expect(r.delta!.dirsNew).toBe(3);
    expect(r.counts).toMatchObject({ copied: 6, failed: 0 });
    expect(await objectText(f.target, 'privkeys/t99/private.pem')).toBe('new tenant key');
    expect(await same(f)).toBe(true);
  }, 60_000);

  it('catches private.pem rewritten in place (same size, directory untouched) and keyword_files saved again', async () => {
    const f = await copied('rewrite');
    const pem = path.join(f.root, 'privkeys/t02/private.pem');
    const dirTimes = fs.statSync(path.dirname(pem));
    const before = fs.readFileSync(pem, 'utf8');
    // reset-encrypt-key-pair: OpenDAL opens with create+truncate and writes (fidelity §3, §7).
    const after = before.replace('old', 'NEW');
    expect(after.length).toBe(before.length);
    fs.writeFileSync(pem, after);
    expect(fs.statSync(path.dirname(pem)).mtimeMs).toBe(dirTimes.mtimeMs);
    // jieba: delete, then save (jieba.py:140-143).
    const kw = path.join(f.root, 'keyword_files/t04/ds3.txt');
    fs.rmSync(kw);
    fs.writeFileSync(kw, '{"new": 3}');
    const r = await delta(f);
    expect(r.counts).toMatchObject({ copied: 2, failed: 0 });
    expect(await objectText(f.target, 'privkeys/t02/private.pem')).toBe(after);
    expect(await objectText(f.target, 'keyword_files/t04/ds3.txt')).toBe('{"new": 3}');
    expect(await same(f)).toBe(true);
  }, 60_000);

  it('on a filesystem with coarse timestamps, the margin still lists a directory changed just after the copy started', async () => {
    const f = await copied('coarse');
    writeFile(f.root, 'image_files/t05/late.png', bytes(123, 7));
    const dir = fs.statSync(path.join(f.root, 'image_files/t05'), { bigint: true });
    const changed = Number((dir.ctimeNs > dir.mtimeNs ? dir.ctimeNs : dir.mtimeNs) / 1_000_000n);
    // A 2 s granularity (FAT) records a change made after the copy's start as up to 2 s before it.
    watermarkAt(f.state, changed + 1500);
    const noMargin = await delta(f, { dryRun: false, delta: { marginMs: 0 } });
    // Without a margin the change is missed: this is what the margin is for.
    expect(noMargin.counts.copied).toBe(0);
    watermarkAt(f.state, changed + 1500);
    const r = await delta(f, { delta: {} });
    expect(r.counts).toMatchObject({ copied: 1, failed: 0 });
    expect(await same(f)).toBe(true);
  }, 60_000);

  it('lists the directories of files the database names as new, whatever their times say', async () => {
    const f = await copied('named');
    writeFile(f.root, 'upload_files/t06/from-db.pdf', bytes(400, 3));
    writeFile(f.root, 'upload_files/t77/new-tenant.pdf', bytes(401, 4));
    watermarkAt(f.state, Date.now() + 3_600_000); // every directory looks unchanged
    let asked: Date | undefined;
    const r = await delta(f, {
      delta: {
        marginMs: 0,
        namedSince: async (since) => {
          asked = since;
          return ['upload_files/t06/from-db.pdf', 'upload_files/t77/new-tenant.pdf', 'gone.pdf'];
        },
      },
    });
    expect(asked).toBeInstanceOf(Date);
    expect(r.counts).toMatchObject({ copied: 2, failed: 0 });
    expect(r.delta).toMatchObject({ namedByDatabase: 3, namedMissing: ['gone.pdf'] });
    expect(await same(f)).toBe(true);
  }, 60_000);

  it('walks the whole tree when the volume is not node-local (NFS), when there is no complete copy, or after a failed one', async () => {
    const f = await copied('nfs');
    writeFile(f.root, 'tools/t01/late.bin', bytes(64, 1));
    watermarkAt(f.state, Date.now() + 3_600_000); // directory times that lie, as NFS's can
    const nfs = await delta(f, { delta: { prune: false } });
    expect(nfs.delta).toMatchObject({ strategy: 'full' });
    expect(nfs.delta!.reason).toMatch(/not node-local/);
    expect(nfs.counts).toMatchObject({ copied: 1, failed: 0 });
    expect(await same(f)).toBe(true);

    const fresh = tempDir('fd-nostate');
    cleanup.push(fresh);
    const none = await delta({ ...f, state: fresh });
    expect(none.delta!.reason).toMatch(/no complete copy/);

    // A run with a failed file leaves no watermark: the next delta walks everything.
    writeFile(f.root, 'upload_files/t01/u0.pdf', bytes(999, 1));
    const broken = await syncToBucket({
      root: f.root,
      target: f.target,
      stateDir: f.state,
      throwOnFailure: false,
      hooks: {
        afterRead: (key) => {
          if (key === 'upload_files/t01/u0.pdf') throw new Error('injected');
        },
      },
    });
    expect(broken.counts.failed).toBe(1);
    const after = await delta(f);
    expect(after.delta!.reason).toMatch(/no complete copy/);
    expect(after.counts).toMatchObject({ copied: 1, failed: 0 });
  }, 90_000);
});
