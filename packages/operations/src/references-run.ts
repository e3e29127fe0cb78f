import {
  parseInputs,
  parseS3Target,
  type InputReader,
  type SecretMasker,
} from '@dify-storage/action-kit';
import { readStorageReferences, REFERENCE_KINDS, type ReferenceKind } from '@dify-storage/dify';
import type { S3Target } from '@dify-storage/s3';
import { createS3Client } from '@dify-storage/s3';
import {
  checkReferences,
  formatReferenceTable,
  type ReferenceProblem,
  type ReferenceReport,
} from '@dify-storage/verify';
import { READ_BACK } from './migrate-inputs.js';
import { databaseUrlInput } from './targets.js';

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
  const client = config.s3 ? createS3Client(config.s3) : undefined;
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
 * References broken before the migration (dify-1.3.0-fidelity.md §4): the row exists, its file
 * is not in the source tree. Counted per kind, with the first keys, so the operator sees in
 * the preflight and the plan that the migration did not break them (and verify will not fail them).
 */
export interface PreExistingReferences {
  storagePath: string;
  /** Every reference read, and how many of them are broken, in total and per kind. */
  references: number;
  total: number;
  perKind: Record<ReferenceKind, number>;
  /** The first keys (at most 100), with why. */
  examples: ReferenceProblem[];
  /** One line for logs and the CLI. */
  line: string;
}

export function preExistingOf(report: ReferenceReport, storagePath: string): PreExistingReferences {
  const perKind = Object.fromEntries(
    REFERENCE_KINDS.map((k) => [k, report.kinds[k].preExisting]),
  ) as Record<ReferenceKind, number>;
  const total = report.total.preExisting;
  const kinds = REFERENCE_KINDS.filter((k) => perKind[k] > 0)
    .map((k) => `${k} ${perKind[k]}`)
    .join(', ');
  return {
    storagePath,
    references: report.total.references,
    total,
    perKind,
    examples: report.preExisting,
    line:
      total > 0
        ? `pre-existing, ${total} rows (${kinds}) of ${report.total.references} references have no file in ${storagePath} before the migration: reported, not failed`
        : `all ${report.total.references} database references have their file in ${storagePath}`,
  };
}

/** Reads every reference against the source tree alone (no bucket): what was broken before. */
export async function preExistingReferences(
  databaseUrl: string,
  storagePath: string,
): Promise<{ report: ReferenceReport; preExisting: PreExistingReferences }> {
  const report = await checkReferences({
    references: readStorageReferences(databaseUrl),
    storagePath,
    readBack: 'none',
  });
  return { report, preExisting: preExistingOf(report, storagePath) };
}

/** Markdown lines of the pre-existing broken keys (names from the database, JSON-quoted). */
export function preExistingMarkdown(p: PreExistingReferences, limit = 20): string[] {
  return p.examples
    .slice(0, limit)
    .map((e) => `- ${e.kind} \`${JSON.stringify(e.key).replace(/`/g, '\\u0060')}\`: ${e.reason}`);
}

/**
 * The plan's "database references" section (dify-1.3.0-fidelity.md §4): every reference
 * against the source tree before the cutover; rows with no file are pre-existing, not the
 * migration's to fix, and verify will not fail them.
 */
export async function referencesPlanSection(
  databaseUrl: string,
  storagePath: string,
): Promise<{ markdown: string; report: ReferenceReport; preExisting: PreExistingReferences }> {
  const { report, preExisting } = await preExistingReferences(databaseUrl, storagePath);
  const markdown = [
    '### Database references in the source tree',
    '',
    '```',
    ...formatReferenceTable(report),
    '```',
    '',
    preExisting.total > 0
      ? `Pre-existing, ${preExisting.total} rows: their file was not in ${storagePath} before the migration; they are reported, not failed.`
      : 'Every referenced key has its file in the source tree.',
    ...preExistingMarkdown(preExisting),
    '',
  ].join('\n');
  return { markdown, report, preExisting };
}
