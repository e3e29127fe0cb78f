/**
 * issue 8: the rollback on the simulated install. Migrated to S3, used on S3 (uploads and a new
 * tenant), hostile keys planted in the bucket; then a wrong backup id, the rollback itself, and a
 * re-run. Tests run in order and share the install.
 */
import { constants, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { findBackup } from '@dify-storage/backup';
import { DifyApi, privateKeyKey } from '@dify-storage/dify';
import {
  readConvertConfig,
  readMigrateConfig,
  readRollbackConfig,
  runConvert,
  runMigrate,
  runRollback,
  type RollbackResult,
} from '@dify-storage/operations';
import { uploadThroughDify } from '../../src/install/dify-client.js';
import {
  bucketObjects,
  clusterView,
  expectedTree,
  getObject,
  inputValues,
  isHostPathConfig,
  log,
  migratedInstall,
  noMask,
  putObject,
  reader,
  resourceVersions,
  tenantPublicKey,
  treeOf,
  uploadRows,
  type Migrated,
} from './support.js';

// `/abs.txt` is no longer among them: Dify on OpenDAL fs reads that key at `<root>/abs.txt`, so
// the copy back puts it there (inside the root), as the reverse of the key fix-up.
const HOSTILE = [
  '../escape.txt',
  'a/../../b',
  'upload_files\\..\\..\\evil.txt',
  `upload_files/${'x'.repeat(300)}.txt`,
];

describe('rollback to hostPath on the simulated install', () => {
  let m: Migrated;
  let planted: string[];
  let collisions: string[];
  let before: Map<string, string>;
  let nodeDirBefore: Map<string, string>;
  let first: RollbackResult;
  const runId = `rollback-test-${randomBytes(3).toString('hex')}`;
  const config = (extra: Record<string, string> = {}) =>
    readRollbackConfig(reader(inputValues(m.install, { 'run-id': runId, ...extra })), {}, noMask);
  const nodeDir = () => path.dirname(m.install.storagePath);
  /** The node directory without the storage dir and what the rollback moved aside. */
  const outsideStorage = async () => {
    const base = path.basename(m.install.storagePath);
    const tree = await treeOf(path.dirname(nodeDir()));
    const rel = path.relative(path.dirname(nodeDir()), m.install.storagePath);
    for (const k of [...tree.keys()]) {
      if (k.startsWith(`${rel}/`) || k.startsWith(`${path.dirname(rel)}/${base}.pre-rollback-`))
        tree.delete(k);
    }
    return tree;
  };

  beforeAll(async () => {
    m = await migratedInstall(60);
    for (const key of HOSTILE) {
      await putObject(m.s3, m.install.bucket, key, Buffer.from(`hostile ${key}`));
    }
    const keys = new Set(await bucketObjects(m.s3, m.install.bucket));
    planted = HOSTILE.filter((k) => keys.has(k));
    before = await treeOf(m.install.storagePath);
    // Keys that collide with what the backup restores (issue 14 §5): an object named like a
    // restored directory, and one below a restored file. Refused and reported, never a wedge.
    const aFile = [...before.keys()].find((k) => k.startsWith('upload_files/'))!;
    collisions = ['upload_files', `${aFile}/child.txt`];
    for (const key of collisions) await putObject(m.s3, m.install.bucket, key, Buffer.from(key));
    nodeDirBefore = await outsideStorage();
  }, 120_000);
  afterAll(async () => {
    m?.s3.destroy();
    await m?.install.stop();
  });

  it('the bucket holds the planted hostile keys as written', () => {
    // The store may normalize some keys; the ones it kept are the test's hostile input.
    expect(planted).toEqual(HOSTILE);
  });

  it('a wrong backup id changes nothing and lists the available ids', async () => {
    const versions = resourceVersions(m.install);
    await expect(
      runRollback(config({ 'backup-id': 'b-20000101T000000Z-000000' }), log),
    ).rejects.toThrow(
      new RegExp(`No backup with id b-20000101T000000Z-000000.*Available backups: ${m.backupId}`),
    );
    expect(resourceVersions(m.install)).toEqual(versions);
    expect(await treeOf(m.install.storagePath)).toEqual(before);
    expect(clusterView(m.install).leases).toEqual([]);
    const siblings = await readdir(nodeDir());
    expect(siblings.filter((n) => n.includes('pre-rollback'))).toEqual([]);
  });

  it('a storage path other than the backup record’s is refused, nothing changed', async () => {
    const versions = resourceVersions(m.install);
    const other = path.join(nodeDir(), 'another-dir');
    await expect(
      runRollback(config({ 'backup-id': m.backupId, 'storage-path': other }), log),
    ).rejects.toThrow(`Input 'storage-path' is '${other}', but backup ${m.backupId} was taken of`);
    expect(resourceVersions(m.install)).toEqual(versions);
    expect(await treeOf(m.install.storagePath)).toEqual(before);
    expect(existsSync(other)).toBe(false);
  });

  it('rolls back: the StatefulSets, the snapshot ConfigMap, no S3 Secret, no Deployments', async () => {
    first = await runRollback(config({ 'backup-id': m.backupId }), log);
    expect(first.noop).toBe(false);
    expect(first.message).toMatch(/restored namespace dify/);
    expect(first.checks.filter((c) => !c.ok)).toEqual([]);
    const view = clusterView(m.install);
    expect(view.deployments).toEqual([]);
    expect(Object.keys(view.statefulSets).sort()).toEqual(['dify-api', 'dify-worker']);
    for (const sts of Object.values(view.statefulSets)) {
      expect(sts.replicas).toBe(1);
      expect(JSON.stringify(sts.volumes)).toContain('"hostPath"');
    }
    const located = await findBackup(path.join(m.install.workDir, 'backups'), m.backupId);
    const cmFile = located.record.kubernetes.objects.find((o) => o.kind === 'ConfigMap')!;
    const snapshot = JSON.parse(
      await readFile(path.join(m.install.workDir, 'backups', cmFile.sanitizedFile!), 'utf8'),
    ) as { data: Record<string, string> };
    expect(view.configMap).toEqual(snapshot.data);
    expect(isHostPathConfig(view.configMap)).toBe(true);
    expect(view.secrets).not.toContain('dify-s3-credentials');
    expect(view.leases).toEqual([]);
  }, 120_000);

  it('restores the storage directory exactly: the backup plus everything written on S3', async () => {
    const expected = await expectedTree(m, new Set([...planted, ...collisions]));
    expect(await treeOf(m.install.storagePath)).toEqual(expected);
    // The objects written on S3 were copied back and are listed.
    expect(first.copyBack!.copied).toBeGreaterThanOrEqual(m.uploadsOnS3.length + 1);
    expect(first.copyBack!.failed).toBe(0);
  });

  it('moved the previous content aside, not deleted', async () => {
    expect(first.movedAside).toHaveLength(1);
    expect(await treeOf(first.movedAside[0]!)).toEqual(before);
  });

  it('refuses and reports the hostile keys, writing nothing outside the storage root', async () => {
    expect(first.copyBack!.refused).toBe(planted.length + collisions.length);
    for (const key of [...planted, ...collisions]) {
      expect(first.copyBack!.refusedKeys.some((r) => r.startsWith(`${key}: `))).toBe(true);
    }
    const list = JSON.parse(await readFile(first.copyBack!.listPath, 'utf8')) as {
      copied: string[];
      refused: string[];
    };
    expect(list.refused).toHaveLength(planted.length + collisions.length);
    expect(list.refused).toContainEqual(
      expect.stringMatching(/^upload_files: collides with a directory/),
    );
    expect(await outsideStorage()).toEqual(nodeDirBefore);
    expect(existsSync(path.resolve(m.install.storagePath, '../escape.txt'))).toBe(false);
    expect(existsSync(path.resolve(m.install.storagePath, 'a/../../b'))).toBe(false);
    expect(existsSync('/abs.txt')).toBe(false);
  });

  it('serves every file from before and after the cutover through file-preview, byte for byte', async () => {
    await m.install.waitForApi();
    const api = new DifyApi(m.install.difyUrl);
    const rows = await uploadRows(m.install);
    for (const u of m.uploadsOnS3) expect(rows.map((r) => r.id)).toContain(u.id);
    const bad: string[] = [];
    const broken = new Set(m.install.seeded.cases.broken.map((b) => b.key));
    for (const row of rows) {
      // Broken before the migration: nothing to serve, before or after.
      if (broken.has(row.key)) continue;
      // Rows without a hash (docx images, create-by-text) are compared with the object written
      // on S3, cut at Content-Length = size as Dify does when size > 0.
      const body = await getObject(m.s3, m.install.bucket, row.key);
      const sha3 =
        row.hash ??
        (await import('node:crypto'))
          .createHash('sha3-256')
          .update(row.size > 0 ? body.subarray(0, row.size) : body)
          .digest('hex');
      const f = await api.fetchFilePreview(row.id, m.install.secretKey);
      if (f.status !== 200 || f.truncated || f.sha3 !== sha3) {
        bad.push(`${row.key}: status ${f.status}, ${f.bytes} bytes, ${f.error ?? ''}`);
      }
    }
    expect(bad).toEqual([]);
    expect(rows.length - m.uploadsOnS3.length).toBeGreaterThan(30);
  }, 60_000);

  it("keeps the new tenant's private key, and Dify works for that tenant on hostPath", async () => {
    const keyPath = path.join(m.install.storagePath, privateKeyKey(m.newTenant.tenant_id));
    const privatePem = await readFile(keyPath, 'utf8');
    const secret = randomBytes(32);
    const sealed = publicEncrypt(
      {
        key: await tenantPublicKey(m.install, m.newTenant.tenant_id),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
      },
      secret,
    );
    expect(
      privateDecrypt({ key: privatePem, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed),
    ).toEqual(secret);
    const content = randomBytes(2500);
    const up = await uploadThroughDify(
      m.install,
      m.newTenant.app_api_key,
      'after-rollback.bin',
      content,
    );
    const row = (await uploadRows(m.install)).find((r) => r.id === up.id)!;
    expect(await readFile(path.join(m.install.storagePath, row.key))).toEqual(content);
  });

  it('a re-run is a no-op that says so', async () => {
    const versions = resourceVersions(m.install);
    const asideBefore = (await readdir(nodeDir())).filter((n) => n.includes('pre-rollback'));
    const tree = await treeOf(m.install.storagePath);
    const again = await runRollback(config({ 'backup-id': m.backupId }), log);
    expect(again.noop).toBe(true);
    expect(again.message).toMatch(/already restored from backup .*nothing changed/);
    expect(again.journal).toEqual([]);
    expect(again.downtimeSeconds).toBe(0);
    expect(again.movedAside).toEqual(first.movedAside);
    expect((await readdir(nodeDir())).filter((n) => n.includes('pre-rollback'))).toEqual(
      asideBefore,
    );
    expect(await treeOf(m.install.storagePath)).toEqual(tree);
    expect(again.copyBack!.refusedKeys).toHaveLength(planted.length + collisions.length);
    // Only the lease came and went: the workloads and their settings were not touched.
    const { ['leases/dify-storage-migration']: _lease, ...rest } = resourceVersions(m.install);
    void _lease;
    expect(rest).toEqual(versions);
  }, 60_000);

  it('after a second migration, a rollback to the same backup is a new one: nothing written on S3 is lost', async () => {
    const read = (extra: Record<string, string>) => reader(inputValues(m.install, extra));
    const bulk = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
    expect(bulk.mode).not.toBe('verify');
    await runConvert(
      readConvertConfig(read({ phase: 'cutover', 'backup-id': m.backupId }), {}, noMask),
      log,
    );
    expect(clusterView(m.install).deployments.sort()).toEqual(['dify-api', 'dify-worker']);
    await m.install.waitForApi();
    const content = randomBytes(5000);
    const up = await uploadThroughDify(
      m.install,
      m.install.seeded.tenants[1]!.appApiKey,
      'second-s3.bin',
      content,
    );
    const second = await runRollback(config({ 'backup-id': m.backupId }), log);
    expect(second.noop).toBe(false);
    expect(second.movedAside).toHaveLength(1);
    expect(second.movedAside[0]).not.toBe(first.movedAside[0]);
    expect(second.checks.filter((c) => !c.ok)).toEqual([]);
    const row = (await uploadRows(m.install)).find((r) => r.id === up.id)!;
    expect(await readFile(path.join(m.install.storagePath, row.key))).toEqual(content);
    expect(clusterView(m.install).deployments).toEqual([]);
    // The first rollback's record is kept beside the new one.
    const records = (await readdir(path.join(m.install.workDir, 'backups'))).filter(
      (n) => /^rollback-.*\.json$/.test(n) && !n.includes('copied-back'),
    );
    expect(records).toHaveLength(2);
    // So is its list of what was copied back and refused.
    const lists = (await readdir(path.join(m.install.workDir, 'backups'))).filter((n) =>
      n.includes('copied-back'),
    );
    expect(lists).toHaveLength(2);
    expect(lists.some((n) => /-copied-back-\d{8}T\d{6}Z\.json$/.test(n))).toBe(true);
    expect(existsSync(second.copyBack!.listPath)).toBe(true);
  }, 120_000);
});
