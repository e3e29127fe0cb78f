import {
  parseInputs,
  parseS3Target,
  type InputReader,
  type S3Target,
  type SecretMasker,
} from '@dify-storage/action-kit';
import { readStorageReferences } from '@dify-storage/dify';
import { createS3Client } from '@dify-storage/s3';
import { checkReferences, formatReferenceTable, type ReferenceReport } from '@dify-storage/verify';
import { READ_BACK } from './migrate-inputs.js';
import { databaseUrlInput, s3Settings } from './targets.js';

export interface ReferencesConfig {
  storagePath: string;
  databaseUrl: string;
  /** Only when a bucket is named: the check is then also against the bucket. */
  s3?: S3Target;
  readBack: (typeof READ_BACK)[number];
}

/** The operator's audit: storage-path and database-url required, the bucket optional. */
export function readReferencesConfig(
  read?: InputReader,
  env: NodeJS.ProcessEnv = process.env,
  masker?: SecretMasker,
): ReferencesConfig {
  return parseInputs(
    (p) => {
      const storagePath = p.storagePath('storage-path', { required: true }) ?? '';
      const databaseUrl = databaseUrlInput(p, 'database-url') ?? '';
      if (!databaseUrl) p.fail("Input 'database-url' is required but was not supplied.");
      return {
        storagePath,
        databaseUrl,
        ...(p.optional('bucket') !== undefined ? { s3: parseS3Target(p, env) } : {}),
        readBack: p.choice('read-back', READ_BACK, { default: 'none' }),
      };
    },
    read,
    masker,
  );
}

/** Every reference against the source tree and, when given, the bucket; never writes. */
export async function runReferences(config: ReferencesConfig): Promise<ReferenceReport> {
  const client = config.s3 ? createS3Client(s3Settings(config.s3)) : undefined;
  try {
    return await checkReferences({
      references: readStorageReferences(config.databaseUrl),
      storagePath: config.storagePath,
      ...(client && config.s3 ? { client, bucket: config.s3.bucket } : {}),
      readBack: config.readBack,
    });
  } finally {
    client?.destroy();
  }
}

/** The table per kind, then the failing keys (the first 100) and the pre-existing ones. */
export function formatReferencesText(r: ReferenceReport): string {
  const quote = (k: string) => JSON.stringify(k);
  return [
    ...formatReferenceTable(r),
    '',
    ...r.failures.map((p) => `FAIL ${p.outcome} ${p.kind} ${p.id} ${quote(p.key)}: ${p.reason}`),
    ...r.preExisting.map((p) => `pre-existing ${p.kind} ${p.id} ${quote(p.key)}: ${p.reason}`),
    r.summary,
  ].join('\n');
}

/**
 * The plan's "database references" section (dify-1.3.0-fidelity.md §4): every reference
 * against the source tree before the cutover; rows with no file are pre-existing, not the
 * migration's to fix, and verify will not fail them.
 */
export async function referencesPlanSection(
  databaseUrl: string,
  storagePath: string,
): Promise<{ markdown: string; report: ReferenceReport }> {
  const report = await checkReferences({
    references: readStorageReferences(databaseUrl),
    storagePath,
    readBack: 'none',
  });
  const listed = report.preExisting
    .slice(0, 20)
    .map((p) => `- ${p.kind} \`${JSON.stringify(p.key)}\`: ${p.reason}`);
  const markdown = [
    '### Database references in the source tree',
    '',
    '```',
    ...formatReferenceTable(report),
    '```',
    '',
    report.total.preExisting > 0
      ? `Pre-existing, ${report.total.preExisting} rows: their file was not in ${storagePath} before the migration; they are reported, not failed.`
      : 'Every referenced key has its file in the source tree.',
    ...listed,
    '',
  ].join('\n');
  return { markdown, report };
}
