import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { DifyApi } from '@dify-storage/dify';
import { deleteProbeUploadRow, uploadFileKey } from '@dify-storage/dify';
import { skipped, type StageResult } from './report.js';

type Outcome = Omit<StageResult, 'stage' | 'durationMs'>;

export interface ProbeContext {
  api?: DifyApi;
  client: S3Client;
  bucket: string;
  runId: string;
}

/** GET /health answers ok with the expected version. */
export async function checkHealth(ctx: ProbeContext, expectedVersion: string): Promise<Outcome> {
  if (!ctx.api) return skipped("no 'dify-url' given");
  const health = await ctx.api.health();
  const evidence = { health };
  if (health.status !== 'ok')
    return { status: 'fail', summary: `/health says status '${health.status}'`, evidence };
  if (health.version !== expectedVersion) {
    return {
      status: 'fail',
      summary: `/health reports version ${health.version}, expected ${expectedVersion}`,
      evidence,
    };
  }
  return { status: 'pass', summary: `/health ok, version ${health.version}`, evidence };
}

export interface WriteProbe {
  fileId: string;
  key?: string;
  content: Buffer;
}

/** A file uploaded through Dify lands in the bucket under the key its upload_files row names. */
export async function checkWritePath(
  ctx: ProbeContext,
  appApiKey: string | undefined,
  databaseUrl: string | undefined,
  onProbe: (probe: WriteProbe) => void,
): Promise<Outcome> {
  if (!ctx.api) return skipped("no 'dify-url' given");
  if (!appApiKey) return skipped("no 'app-api-key' given: the write probe needs an app API key");
  if (!databaseUrl)
    return skipped(
      "no 'database-url' given: the write probe needs the upload_files row to find its key",
    );
  const content = Buffer.concat([
    Buffer.from(`dify-storage verify write probe ${ctx.runId}\n`),
    randomBytes(2048),
  ]);
  const uploaded = await ctx.api.uploadFile(
    appApiKey,
    `dify-storage-probe-${ctx.runId}.txt`,
    content,
    'dify-storage-verify',
  );
  const probe: WriteProbe = { fileId: uploaded.id, content };
  onProbe(probe);
  const key = await uploadFileKey(databaseUrl, uploaded.id);
  if (!key)
    return {
      status: 'fail',
      summary: `upload ${uploaded.id} has no upload_files row`,
      evidence: { uploaded },
    };
  probe.key = key;
  try {
    const head = await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key }));
    const md5 = createHash('md5').update(content).digest('hex');
    const etag = (head.ETag ?? '').replace(/"/g, '');
    const evidence = {
      fileId: uploaded.id,
      key,
      bytes: content.length,
      objectBytes: head.ContentLength,
      etag,
    };
    if (head.ContentLength !== content.length || etag !== md5) {
      return { status: 'fail', summary: `object ${key} differs from the uploaded probe`, evidence };
    }
    return {
      status: 'pass',
      summary: `upload ${uploaded.id} stored in the bucket as ${key} (${content.length} bytes, md5 matches)`,
      evidence,
    };
  } catch (error) {
    return {
      status: 'fail',
      summary: `upload ${uploaded.id} was accepted but ${key} is not in bucket ${ctx.bucket}: ${(error as Error).name}`,
      evidence: { fileId: uploaded.id, key },
    };
  }
}

/** The probe read back through a signed file-preview URL has the same length and hash. */
export async function checkReadPath(
  ctx: ProbeContext,
  difySecretKey: string | undefined,
  probe: WriteProbe | undefined,
): Promise<Outcome> {
  if (!ctx.api) return skipped("no 'dify-url' given");
  if (!difySecretKey)
    return skipped("no 'dify-secret-key' given: file-preview URLs are signed with it");
  if (!probe) return skipped('no write probe to read back');
  const fetched = await ctx.api.fetchFilePreview(probe.fileId, difySecretKey);
  const expected = createHash('sha256').update(probe.content).digest('hex');
  const evidence = {
    fileId: probe.fileId,
    ...fetched,
    expectedBytes: probe.content.length,
    expectedSha256: expected,
  };
  if (fetched.status !== 200)
    return { status: 'fail', summary: `file-preview answered ${fetched.status}`, evidence };
  if (fetched.truncated || fetched.bytes !== probe.content.length || fetched.sha256 !== expected) {
    return {
      status: 'fail',
      summary: `file-preview answered 200 but returned ${fetched.bytes} of ${probe.content.length} bytes${fetched.sha256 === expected ? '' : ' with a different hash'} (the object is missing or unreadable)`,
      evidence,
    };
  }
  return {
    status: 'pass',
    summary: `file-preview returned the probe's ${fetched.bytes} bytes, sha256 matches`,
    evidence,
  };
}

/** A document created by file reaches `completed`: api → Redis → worker → storage read → segments. */
export async function checkWorkerPath(
  ctx: ProbeContext,
  datasetApiKey: string | undefined,
  timeoutSeconds: number,
): Promise<Outcome> {
  if (!ctx.api) return skipped("no 'dify-url' given");
  if (!datasetApiKey)
    return skipped("no 'dataset-api-key' given: the worker probe needs a dataset API key");
  const api = ctx.api;
  const dataset = await api.createDataset(datasetApiKey, `dify-storage-probe-${ctx.runId}`);
  try {
    const text = `Dify storage verification ${ctx.runId}.\n\nThis document proves the worker reads uploads from object storage.\n`;
    const doc = await api.createDocumentByFile(
      datasetApiKey,
      dataset.id,
      `dify-storage-probe-${ctx.runId}.txt`,
      Buffer.from(text),
    );
    const deadline = Date.now() + timeoutSeconds * 1000;
    let last = 'unknown';
    try {
      while (Date.now() < deadline) {
        const status = (await api.indexingStatus(datasetApiKey, dataset.id, doc.batch)).find(
          (d) => d.id === doc.documentId,
        );
        last = status?.indexing_status ?? 'missing';
        if (last === 'completed') {
          return {
            status: 'pass',
            summary: `probe document ${doc.documentId} indexed to completed`,
            evidence: { datasetId: dataset.id, documentId: doc.documentId, batch: doc.batch },
          };
        }
        if (last === 'error' || last === 'paused') {
          return {
            status: 'fail',
            summary: `probe document ${doc.documentId} ended in ${last}: ${status?.error ?? 'no error message'}`,
            evidence: { datasetId: dataset.id, documentId: doc.documentId, error: status?.error },
          };
        }
        await sleep(1000);
      }
      return {
        status: 'fail',
        summary: `probe document ${doc.documentId} still '${last}' after ${timeoutSeconds} s: is the worker running and reading the bucket?`,
        evidence: { datasetId: dataset.id, documentId: doc.documentId, last },
      };
    } finally {
      await api.deleteDocument(datasetApiKey, dataset.id, doc.documentId).catch(() => undefined);
    }
  } finally {
    await api.deleteDataset(datasetApiKey, dataset.id).catch(() => undefined);
  }
}

/** Removes the write probe the way Dify would remove a file: object, then row. */
export async function cleanupWriteProbe(
  ctx: ProbeContext,
  databaseUrl: string | undefined,
  probe: WriteProbe,
): Promise<string[]> {
  const notes: string[] = [];
  if (probe.key) {
    await ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: probe.key }));
    notes.push(`deleted object ${probe.key}`);
  }
  if (databaseUrl) {
    try {
      if (await deleteProbeUploadRow(databaseUrl, probe.fileId))
        notes.push(`deleted upload_files row ${probe.fileId}`);
    } catch (error) {
      notes.push(
        `could not delete upload_files row ${probe.fileId} (${(error as Error).message}); delete it by hand`,
      );
    }
  }
  return notes;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** p50/p95 of small PUTs and GETs against the bucket; fails above the threshold. */
export async function checkLatency(
  ctx: ProbeContext,
  thresholdMs: number,
  samples = 20,
): Promise<Outcome> {
  const prefix = `.dify-storage-verify/${ctx.runId}/latency/`;
  const body = randomBytes(4096);
  const md5 = createHash('md5').update(body).digest('base64');
  const put: number[] = [];
  const get: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const key = `${prefix}${i}`;
      let t = performance.now();
      await ctx.client.send(
        new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: body, ContentMD5: md5 }),
      );
      put.push(performance.now() - t);
      t = performance.now();
      const r = await ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }));
      await r.Body!.transformToByteArray();
      get.push(performance.now() - t);
    }
  } finally {
    await Promise.allSettled(
      Array.from({ length: samples }, (_, i) =>
        ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: `${prefix}${i}` })),
      ),
    );
  }
  put.sort((a, b) => a - b);
  get.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  const evidence = {
    samples,
    putP50Ms: round(percentile(put, 50)),
    putP95Ms: round(percentile(put, 95)),
    getP50Ms: round(percentile(get, 50)),
    getP95Ms: round(percentile(get, 95)),
    thresholdMs,
  };
  const worst = Math.max(evidence.putP95Ms, evidence.getP95Ms);
  const line = `PUT p50 ${evidence.putP50Ms} ms / p95 ${evidence.putP95Ms} ms, GET p50 ${evidence.getP50Ms} ms / p95 ${evidence.getP95Ms} ms`;
  if (worst > thresholdMs) {
    return {
      status: 'fail',
      summary: `object storage too slow: ${line} (threshold ${thresholdMs} ms)`,
      evidence,
    };
  }
  return { status: 'pass', summary: `${line} (threshold ${thresholdMs} ms)`, evidence };
}
