/**
 * verify-dify against a whole simulated install migrated to S3 through the operations (backup,
 * bulk copy, cutover, as the demo does). Each test injects one cause of failure into that one
 * install and puts it back in `finally`, so the tests stay independent.
 */
import { constants, createHash, createPublicKey, publicEncrypt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  readBackupConfig,
  readConvertConfig,
  readMigrateConfig,
  readVerifyConfig,
  runBackup,
  runConvert,
  runMigrate,
  runVerify,
  type Logger,
  type VerifyRunResult,
} from '@dify-storage/operations';
import { DifyApi } from '@dify-storage/dify';
import {
  STAGES,
  renderDataFlowTable,
  renderMermaid,
  type StageName,
  type StageStatus,
} from '@dify-storage/verify';
import pg from 'pg';
import {
  installInputs,
  installS3Client,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { buildDocx } from '../../src/dify/docx.js';
import {
  normalizePath,
  privkeyKey,
  signedFilePreviewUrl,
  signedToolFileUrl,
} from '../../src/dify/index.js';
import { createDocumentByFile, createDocumentByText } from '../../src/install/dify-client.js';
import { testEnv } from '../../src/proving-ground/index.js';
import {
  dropBucket,
  getObject,
  listKeys,
  livePods,
  mergePatch,
  removeObject,
  startSlowProxy,
  waitFor,
  waitForPods,
} from './support.js';

const noMask = () => undefined;
const lines: string[] = [];
const log: Logger = { info: (l) => lines.push(l), warn: (l) => lines.push(`warning: ${l}`) };
const INDEXING_TIMEOUT_S = 6;

type Statuses = Record<StageName, StageStatus>;
const ALL_PASS = Object.fromEntries(STAGES.map((s) => [s, 'pass'])) as Statuses;

describe('verify-dify on a simulated install migrated to S3', () => {
  let install: SimulatedInstall;
  let s3: S3Client;
  let db: pg.Client;
  let manifestPath: string;
  let passing: VerifyRunResult;

  const inputs = (extra: Record<string, string>) =>
    installInputs(install, { 'rollout-timeout': '60', ...extra });

  /** One verify-dify run with every credential, minus the inputs set to '' in `extra`. */
  const verify = async (extra: Record<string, string> = {}) => {
    const tenant = install.seeded.tenants[0]!;
    const r = await runVerify(
      readVerifyConfig(
        inputs({
          'manifest-path': manifestPath,
          'read-back': 'sample',
          'app-api-key': tenant.appApiKey,
          'dataset-api-key': tenant.datasetApiKey,
          'indexing-timeout': String(INDEXING_TIMEOUT_S),
          // A loaded CI machine can push RGW's PUT p95 past the 500 ms default; the latency
          // stage has its own test below, with a slow proxy and a 100 ms threshold.
          'latency-threshold-ms': '5000',
          'report-path': path.join(install.workDir, 'reports', `verify-${Date.now()}.json`),
          ...extra,
        }),
        {},
        noMask,
      ),
      log,
    );
    // SHOW_VERIFY=1 prints every stage's summary: what a failed expectation on statuses hides.
    if (process.env.SHOW_VERIFY)
      process.stderr.write(
        `${r.stages.map((s) => `${s.status} ${s.stage}: ${s.summary} (${s.durationMs} ms)`).join('\n')}\n\n`,
      );
    return r;
  };

  const statuses = (r: VerifyRunResult) =>
    Object.fromEntries(r.stages.map((s) => [s.stage, s.status])) as Statuses;
  const summary = (r: VerifyRunResult, stage: StageName) =>
    r.stages.find((s) => s.stage === stage)?.summary ?? '';

  /**
   * Emulated `decrypt_token` of a challenge encrypted (non-hybrid OAEP) with the public half of
   * the tenant's private key on disk: the api loads the key through its configured storage.
   */
  const decryptThroughDify = async (tenantId: string, challenge: string) => {
    const pem = await readFile(path.join(install.storagePath, privkeyKey(tenantId)));
    const token = publicEncrypt(
      { key: createPublicKey(pem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from(challenge),
    ).toString('base64');
    const got = await fetch(`${install.difyUrl}/console/api/workspaces/${tenantId}/decrypt-token`, {
      method: 'POST',
      headers: { 'X-Emulator-Admin-Token': install.adminToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    return { status: got.status, body: (await got.json()) as unknown };
  };

  beforeAll(async () => {
    install = await startSimulatedInstall({
      env: testEnv(),
      seed: 'verify',
      files: 40,
      timeScale: 0.05,
    });
    const read = (extra: Record<string, string>) => inputs(extra);
    const backup = await runBackup(readBackupConfig(read({}), {}, noMask), log);
    manifestPath = backup.backup!.manifestPath;
    const migrated = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log);
    if (migrated.mode === 'verify' || !migrated.report.ok) throw new Error('bulk copy failed');
    // 600 s of simulated time (×0.05 = 30 s) for the rollout: a loaded machine starts the api slowly.
    await runConvert(
      readConvertConfig(
        read({
          phase: 'cutover',
          'rollout-timeout': '600',
          'backup-id': backup.backup!.record.id,
        }),
        {},
        noMask,
      ),
      log,
    );
    await install.waitForApi(30_000);
    s3 = installS3Client(install);
    db = new pg.Client({ connectionString: install.databaseUrl });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await install?.stop();
    // The install leaves its bucket behind; this suite's objects should not outlive it.
    if (s3) await dropBucket(s3, install.bucket).catch(() => undefined);
    s3?.destroy();
  });

  it('serves every seeded case through file-preview on S3 as Dify on fs served it', async () => {
    // The real read path after the cutover (boto3 at the verbatim key), compared with what
    // Dify 1.3.0 sent before: the file at the OpenDAL path, cut at Content-Length = size when
    // size > 0 (a non-ASCII create-by-text document is cut there, before and after alike).
    const api = new DifyApi(install.difyUrl);
    const c = install.seeded.cases;
    const { rows } = await db.query<{ id: string; key: string; size: number }>(
      'SELECT id::text, key, size FROM upload_files WHERE id = ANY($1)',
      [
        [...c.text, ...c.spaced, ...c.doubleSlash, ...c.image, ...c.docx[0]!.images].map(
          (x) => x.id,
        ),
      ],
    );
    expect(rows.length).toBe(c.text.length + c.spaced.length + c.doubleSlash.length + 3);
    for (const row of rows) {
      const onDisk = await readFile(path.join(install.storagePath, normalizePath(row.key)));
      const expected = row.size > 0 ? onDisk.subarray(0, row.size) : onDisk;
      const got = await api.fetchFilePreview(row.id, install.secretKey);
      expect({ key: row.key, status: got.status, bytes: got.bytes }).toEqual({
        key: row.key,
        status: 200,
        bytes: expected.length,
      });
      expect(got.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
    }
    // A pre-existing broken row stays what it was: no bytes (gunicorn's empty reply).
    const broken = await api.fetchFilePreview(c.broken[0]!.id, install.secretKey);
    expect(broken.bytes).toBe(0);
    // The download link (as_attachment) of the Chinese document, as a user clicks it.
    const text = rows.find((r) => r.id === c.text[0]!.id)!;
    const url = `${install.difyUrl}${signedFilePreviewUrl('', install.secretKey, text.id)}&as_attachment=true`;
    const download = await fetch(url);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename\*=UTF-8''/);
    const onDisk = await readFile(path.join(install.storagePath, normalizePath(text.key)));
    expect(Buffer.from(await download.arrayBuffer())).toEqual(onDisk.subarray(0, text.size));
    // Tool files through ToolFilePreviewApi (/files/tools/<id>.<ext>), legacy size -1 included.
    const tools = await db.query<{ id: string; file_key: string }>(
      'SELECT id::text, file_key FROM tool_files',
    );
    expect(tools.rows.length).toBeGreaterThan(0);
    for (const t of tools.rows) {
      const ext = path.extname(t.file_key);
      const got = await fetch(
        `${install.difyUrl}${signedToolFileUrl('', install.secretKey, t.id, ext)}`,
      );
      expect({ key: t.file_key, status: got.status }).toEqual({ key: t.file_key, status: 200 });
      expect(Buffer.from(await got.arrayBuffer())).toEqual(
        await readFile(path.join(install.storagePath, normalizePath(t.file_key))),
      );
    }
    // Every tenant's private key as decrypt_token loads it (libs/rsa.py:48-64): a challenge
    // encrypted with the public half of the key on disk decrypts only with that very key.
    expect(install.seeded.tenants.length).toBeGreaterThan(0);
    for (const tenant of install.seeded.tenants) {
      const challenge = `challenge for ${tenant.id}`;
      expect({ tenant: tenant.id, ...(await decryptThroughDify(tenant.id, challenge)) }).toEqual({
        tenant: tenant.id,
        status: 200,
        body: { text: challenge },
      });
    }
    // The keyword file as Jieba's keyword table reads it (models/dataset.py:897-908).
    expect(c.keyword.length).toBeGreaterThan(0);
    for (const kw of c.keyword) {
      const got = await fetch(
        `${install.difyUrl}/console/api/datasets/${kw.datasetId}/keyword-table`,
        {
          headers: { 'X-Emulator-Admin-Token': install.adminToken },
        },
      );
      const onDiskTable: unknown = JSON.parse(
        (await readFile(path.join(install.storagePath, normalizePath(kw.key)))).toString('utf8'),
      );
      expect({ key: kw.key, status: got.status, body: await got.json() }).toEqual({
        key: kw.key,
        status: 200,
        body: { data_source_type: 'file', keyword_table: onDiskTable },
      });
    }
  }, 30_000);

  it('passes every stage after a correct migration, none skipped, and writes the report', async () => {
    passing = await verify();
    expect(statuses(passing)).toEqual(ALL_PASS);
    expect(passing.verdict).toBe('pass');
    expect(summary(passing, 'workloads')).toContain(install.bucket);
    const written = JSON.parse(await readFile(passing.reportPath, 'utf8')) as VerifyRunResult;
    expect(written.verdict).toBe('pass');
    expect(written.stages.map((s) => s.stage)).toEqual([...STAGES]);
  }, 30_000);

  it('leaves no probe behind: no probe object, no probe upload row, no probe dataset', async () => {
    expect(passing).toBeDefined();
    expect(await listKeys(s3, install.bucket, '.dify-storage-verify/')).toEqual([]);
    expect(passing.cleanup).toEqual([
      expect.stringMatching(/^deleted object upload_files\//),
      expect.stringMatching(/^deleted upload_files row /),
    ]);
    const write = passing.stages.find((s) => s.stage === 'write-path')!.evidence as {
      fileId: string;
      key: string;
    };
    expect(write.key).toMatch(/^upload_files\//);
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: install.bucket, Key: write.key })),
    ).rejects.toMatchObject({ name: 'NotFound' });
    const row = await db.query('SELECT 1 FROM upload_files WHERE id = $1', [write.fileId]);
    expect(row.rowCount).toBe(0);
    const worker = passing.stages.find((s) => s.stage === 'worker-path')!.evidence as {
      datasetId: string;
      documentId: string;
    };
    const dataset = await db.query('SELECT 1 FROM datasets WHERE id = $1', [worker.datasetId]);
    expect(dataset.rowCount).toBe(0);
    // The probe document's file goes the way Dify removes it: the worker's clean task, shortly after.
    await waitFor(
      'the probe document and its upload to be cleaned by the worker',
      async () => {
        const docs = await db.query('SELECT 1 FROM documents WHERE id = $1', [worker.documentId]);
        const files = await db.query<{ key: string }>(
          "SELECT key FROM upload_files WHERE name LIKE 'dify-storage-probe-%'",
        );
        return docs.rowCount === 0 && files.rowCount === 0 ? true : undefined;
      },
      15_000,
    );
  }, 30_000);

  it('renders each stage status in the data-flow table and the mermaid diagram', () => {
    expect(passing).toBeDefined();
    const table = renderDataFlowTable(passing);
    const mermaid = renderMermaid(passing);
    for (const stage of STAGES) {
      expect(table).toContain(`✅ pass ${stage}:`);
      expect(mermaid).toMatch(new RegExp(`\\["[^"]+"\\]:::pass`));
    }
    expect(mermaid.match(/:::pass/g)).toHaveLength(STAGES.length);
    const failed = {
      ...passing,
      verdict: 'fail' as const,
      stages: passing.stages.map((s) =>
        s.stage === 'worker-path'
          ? { ...s, status: 'fail' as const, summary: 'probe stuck' }
          : s.stage === 'write-path'
            ? { ...s, status: 'skipped' as const, summary: 'no key' }
            : s,
      ),
    };
    expect(renderDataFlowTable(failed)).toContain('❌ fail worker-path: probe stuck');
    expect(renderDataFlowTable(failed)).toContain('⏭️ skipped write-path: no key');
    expect(renderMermaid(failed)).toContain('K["Worker: index from bucket"]:::fail');
    expect(renderMermaid(failed)).toContain('U["Write: upload → bucket"]:::skipped');
  });

  it('passes with create-by-text and docx images written on S3, and catches a same-size corruption of a text document', async () => {
    const tenant = install.seeded.tenants[0]!;
    const images = async () =>
      (
        await db.query<{ key: string }>(
          "SELECT key FROM upload_files WHERE key LIKE 'image\\_files/%' AND tenant_id = $1",
          [tenant.id],
        )
      ).rows.map((r) => r.key);
    const before = new Set(await images());
    const text = '对象存储上的中文文档，创建于切换之后。'.repeat(30);
    expect((await createDocumentByText(install, tenant, '切换之后', text)).status).toBe(
      'completed',
    );
    const docx = buildDocx([
      { text: '切换之后的图文文档。' },
      { image: { target: 'media/image1.png', data: Buffer.from('png on s3') } },
      { image: { target: 'media/image2.JPG', data: Buffer.from('jpg on s3') } },
    ]);
    expect((await createDocumentByFile(install, tenant, '切换之后.docx', docx)).status).toBe(
      'completed',
    );
    const added = (await images()).filter((k) => !before.has(k));
    expect(added).toHaveLength(2);
    const inBucket = new Set(await listKeys(s3, install.bucket, 'image_files/'));
    for (const k of added) expect(inBucket.has(k)).toBe(true);
    expect(statuses(await verify())).toEqual(ALL_PASS);

    // The seeded Chinese document, same length, other bytes: only a read back can tell.
    const key = install.seeded.cases.text[0]!.key;
    const restore = await removeObject(s3, install.bucket, key);
    const original = await readFile(path.join(install.storagePath, normalizePath(key)));
    const corrupt = Buffer.from(original);
    corrupt[0] = corrupt[0]! ^ 0xff;
    await s3.send(new PutObjectCommand({ Bucket: install.bucket, Key: key, Body: corrupt }));
    try {
      const r = await verify({ 'read-back': 'all' });
      expect(statuses(r)['database-references']).toBe('fail');
      expect(summary(r, 'database-references')).toContain(key);
      expect(summary(r, 'database-references')).toContain("differs from the source file's");
    } finally {
      await restore();
    }
  }, 90_000);

  it('reports a probe without its credentials as skipped with the reason, never as passed', async () => {
    const r = await verify({ 'app-api-key': '', 'dataset-api-key': '' });
    expect(statuses(r)).toEqual({
      ...ALL_PASS,
      'write-path': 'skipped',
      'read-path': 'skipped',
      'worker-path': 'skipped',
    });
    expect(summary(r, 'write-path')).toContain("no 'app-api-key' given");
    expect(summary(r, 'read-path')).toContain('no write probe');
    expect(summary(r, 'worker-path')).toContain("no 'dataset-api-key' given");
    // Nothing failed, but three stages proved nothing: incomplete (exit 3), never pass.
    expect(r.verdict).toBe('incomplete');
    expect(r.unproved).toEqual(['write-path', 'read-path', 'worker-path']);
    // Named as skipped on purpose, the same run passes.
    const named = await verify({
      'app-api-key': '',
      'dataset-api-key': '',
      'skip-stages': 'write-path,read-path,worker-path',
    });
    expect(named.verdict).toBe('pass');
  }, 60_000);

  it('fails stored-files and database-references, naming the key, when an object is deleted', async () => {
    const { rows } = await db.query<{ key: string }>(
      // A key the tree copy itself puts (not a fix-up key, which stored-files leaves to the
      // reference check), in the source tree (not broken before the migration, not written
      // on S3 since).
      "SELECT key FROM upload_files WHERE size BETWEEN 1 AND 65536 AND key ~ '^upload_files/[0-9a-f-]{36}/[0-9a-f-]{36}\\.[a-z0-9.]*$' ORDER BY key",
    );
    const key = rows.map((r) => r.key).find((k) => existsSync(path.join(install.storagePath, k)))!;
    const restore = await removeObject(s3, install.bucket, key);
    try {
      const r = await verify();
      expect(statuses(r)).toEqual({
        ...ALL_PASS,
        'stored-files': 'fail',
        'database-references': 'fail',
      });
      expect(summary(r, 'stored-files')).toContain(key);
      expect(summary(r, 'database-references')).toContain(key);
      expect(r.verdict).toBe('fail');
      expect(renderMermaid(r)).toContain('F["Stored files"]:::fail');
    } finally {
      await restore();
    }
  }, 30_000);

  it('reports a row whose file was never in the source as pre-existing, and passes', async () => {
    const tenant = install.seeded.tenants[0]!;
    const key = `upload_files/${tenant.id}/00000000-dead-4bee-8000-000000000000.txt`;
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO upload_files (tenant_id, storage_type, key, name, size, extension, created_by_role, created_by)
       VALUES ($1, 'opendal', $2, 'ghost.txt', 12, 'txt', 'account', $3) RETURNING id`,
      [tenant.id, key, tenant.accountId],
    );
    try {
      const r = await verify();
      expect(statuses(r)).toEqual(ALL_PASS);
      expect(summary(r, 'database-references')).toMatch(/pre-existing, \d+ rows/);
      const evidence = r.stages.find((s) => s.stage === 'database-references')!.evidence as {
        preExisting: { key: string }[];
        failures: unknown[];
      };
      expect(evidence.preExisting.map((m) => m.key)).toContain(key);
      expect(evidence.failures).toEqual([]);
      // Without the source tree the same row cannot be told from a migration failure.
      const blind = await verify({ 'storage-path': '', 'manifest-path': '' });
      const blindStage = blind.stages.find((s) => s.stage === 'database-references')!;
      expect(blindStage.status).toBe('fail');
      expect(
        (blindStage.evidence as { failures: { key: string }[] }).failures.map((f) => f.key),
      ).toContain(key);
    } finally {
      await db.query('DELETE FROM upload_files WHERE id = $1', [rows[0]!.id]);
    }
  }, 60_000);

  it("names the tenant's private key when it is missing from the bucket", async () => {
    const tenant = install.seeded.tenants[1]!;
    const key = `privkeys/${tenant.id}/private.pem`;
    const restore = await removeObject(s3, install.bucket, key);
    try {
      const r = await verify();
      // The key is on the backup manifest too, so stored-files misses it as well.
      expect(statuses(r)).toEqual({
        ...ALL_PASS,
        'stored-files': 'fail',
        'database-references': 'fail',
      });
      expect(summary(r, 'database-references')).toContain(key);
      expect(summary(r, 'stored-files')).toContain(key);
      // Still on disk, gone from the bucket: the api's read (S3) fails as Dify's uncaught
      // PrivkeyNotFoundError does.
      expect((await decryptThroughDify(tenant.id, 'challenge')).status).toBe(500);
    } finally {
      await restore();
    }
  }, 30_000);

  it('fails workloads naming the bucket when the api is configured with another bucket', async () => {
    const wrongBucket = `${install.bucket}-wrong`;
    type Deployment = {
      spec: { template: { spec: { containers: { name: string; env?: unknown[] }[] } } };
    };
    const original = getObject<Deployment>(install, 'deployments', 'dify-api').spec.template.spec
      .containers;
    const hasWrongBucket = (p: ReturnType<typeof livePods>[number]) =>
      p.spec?.containers?.some((c) => c.env?.some((e) => e.value === wrongBucket)) ?? false;
    try {
      mergePatch(install, 'deployments', 'dify-api', {
        spec: {
          template: {
            spec: {
              containers: original.map((c) => ({
                ...c,
                env: [...(c.env ?? []), { name: 'S3_BUCKET_NAME', value: wrongBucket }],
              })),
            },
          },
        },
      });
      await waitForPods(install, 'dify-api', 1, hasWrongBucket);
      await install.waitForApi(20_000);
      const r = await verify();
      expect(statuses(r)).toMatchObject({
        workloads: 'fail',
        'stored-files': 'pass',
        'database-references': 'pass',
        'dify-health': 'pass',
        'storage-latency': 'pass',
      });
      expect(summary(r, 'workloads')).toContain(`S3_BUCKET_NAME is ${wrongBucket}`);
      expect(summary(r, 'workloads')).toContain(`expected ${install.bucket}`);
      // The api now writes elsewhere: the write probe is not where its row says.
      expect(r.stages.find((s) => s.stage === 'write-path')!.status).toBe('fail');
    } finally {
      mergePatch(install, 'deployments', 'dify-api', {
        spec: { template: { spec: { containers: original } } },
      });
      await waitForPods(install, 'dify-api', 1, (p) => !hasWrongBucket(p));
      await install.waitForApi(20_000);
      await dropBucket(s3, wrongBucket); // the api created it at start (HeadBucket 404 → create)
    }
  }, 60_000);

  it("fails worker-path with 'still waiting' within the indexing timeout when the worker is stopped", async () => {
    mergePatch(install, 'deployments', 'dify-worker', { spec: { replicas: 0 } });
    try {
      await waitFor('the worker pods to be gone', () =>
        livePods(install, 'dify-worker').length === 0 &&
        install.server.api
          .list('pods', install.namespace)
          .items.every(
            (p: unknown) =>
              (p as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.app !==
              'dify-worker',
          )
          ? true
          : undefined,
      );
      const started = Date.now();
      const r = await verify();
      expect(Date.now() - started).toBeLessThan(INDEXING_TIMEOUT_S * 1000 + 15_000);
      // Workloads notices it too: a Deployment scaled to zero has no pods to check.
      expect(statuses(r)).toEqual({ ...ALL_PASS, workloads: 'fail', 'worker-path': 'fail' });
      expect(summary(r, 'workloads')).toContain('dify-worker has no pods');
      expect(summary(r, 'worker-path')).toContain(`still 'waiting' after ${INDEXING_TIMEOUT_S} s`);
      expect(summary(r, 'worker-path')).toContain('is the worker running');
    } finally {
      mergePatch(install, 'deployments', 'dify-worker', { spec: { replicas: 1 } });
      await waitForPods(install, 'dify-worker', 1);
    }
  }, 45_000);

  it('fails storage-latency with the p95 when a slow proxy sits in front of RGW', async () => {
    const proxy = await startSlowProxy(install.s3.endpoint, 150);
    try {
      // The runner reaches RGW through the slow proxy; the pods reach it directly.
      const r = await verify({
        endpoint: proxy.url,
        'pod-endpoint': install.s3.tlsEndpoint,
        'latency-threshold-ms': '100',
      });
      expect(r.stages.find((s) => s.stage === 'storage-latency')!.status).toBe('fail');
      expect(summary(r, 'storage-latency')).toMatch(/too slow: PUT p50 \d+(\.\d)? ms \/ p95 \d+/);
      expect(summary(r, 'storage-latency')).toContain('threshold 100 ms');
      const evidence = r.stages.find((s) => s.stage === 'storage-latency')!.evidence as {
        putP95Ms: number;
        getP95Ms: number;
      };
      expect(Math.max(evidence.putP95Ms, evidence.getP95Ms)).toBeGreaterThan(100);
      expect(proxy.requests()).toBeGreaterThan(40);
      expect(statuses(r)).toEqual({ ...ALL_PASS, 'storage-latency': 'fail' });
    } finally {
      await proxy.close();
    }
  }, 45_000);
});
