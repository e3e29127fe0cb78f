import { createReadStream } from 'node:fs';
import {
  SourceTree,
  normalizeFsPath,
  readStorageReferences,
  type StorageReference,
} from '@dify-storage/dify';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport, s3KeyProblem } from '@dify-storage/sync';

export interface KeyFixUpOptions {
  databaseUrl: string;
  /** The storage root the tree copy read. */
  root: string;
  target: S3Target;
  dryRun: boolean;
  /** How many keys of each list to keep in the report. */
  listLimit?: number;
}

export interface KeyFixUpReport {
  /** Rows read from the database. */
  references: number;
  /** Rows whose key is not its own OpenDAL fs path (trailing space, `//`, leading `/` …). */
  differing: number;
  /** Objects put at the verbatim key (or that would be, on a dry run). */
  copied: number;
  /** Already at the verbatim key with the file's size and md5. */
  present: number;
  /** No file at the normalized path: broken before the migration, nothing to copy. */
  preExisting: number;
  copiedKeys: string[];
  unrepresentable: { key: string; reason: string }[];
  failed: { key: string; error: string }[];
}

/**
 * The key fix-up after the pure tree copy (dify-1.3.0-fidelity.md §3): OpenDAL `fs` stored the
 * file of `upload_files/T/U.pdf ` at `upload_files/T/U.pdf`, but boto3 after the cutover asks
 * for the verbatim key. For every database key whose normalized form differs from itself, the
 * file at the normalized path is put at the verbatim key (Content-MD5, the tree copy's
 * metadata). Keys S3 cannot hold are reported, never dropped silently.
 */
export async function fixUpKeys(o: KeyFixUpOptions): Promise<KeyFixUpReport> {
  const listLimit = o.listLimit ?? 100;
  const tree = new SourceTree(o.root);
  const transport = new S3Transport(o.target, { maxSockets: 4 });
  const report: KeyFixUpReport = {
    references: 0,
    differing: 0,
    copied: 0,
    present: 0,
    preExisting: 0,
    copiedKeys: [],
    unrepresentable: [],
    failed: [],
  };
  const keep = <T>(list: T[], item: T) => list.length < listLimit && list.push(item);
  try {
    for await (const ref of readStorageReferences(o.databaseUrl)) {
      report.references += 1;
      if (ref.key === ref.fsPath) continue;
      report.differing += 1;
      const problem = s3KeyProblem(ref.key);
      if (problem) {
        keep(report.unrepresentable, { key: ref.key, reason: problem });
        continue;
      }
      try {
        const outcome = await fixUpOne(ref, tree, transport, o.dryRun);
        report[outcome] += 1;
        if (outcome === 'copied') keep(report.copiedKeys, ref.key);
      } catch (error) {
        keep(report.failed, { key: ref.key, error: (error as Error).message });
      }
    }
  } finally {
    transport.close();
  }
  return report;
}

async function fixUpOne(
  ref: StorageReference,
  tree: SourceTree,
  transport: S3Transport,
  dryRun: boolean,
): Promise<'copied' | 'present' | 'preExisting'> {
  const source = await tree.stat(ref.fsPath);
  if ('absent' in source) return 'preExisting';
  const { md5, sha256 } = await tree.digests(ref.fsPath, ['md5', 'sha256']);
  const head = await transport.headObject(ref.key);
  if (head && head.size === source.size && (head.etag === md5 || head.metadata.sha256 === sha256))
    return 'present';
  if (dryRun) return 'copied';
  await transport.putObjectStream(
    ref.key,
    source.size,
    () => createReadStream(tree.file(ref.fsPath)),
    { md5: Buffer.from(md5!, 'hex') },
    { sha256: sha256! },
  );
  return 'copied';
}

/** A key no tree copy produces (it is not its own OpenDAL fs path): only the fix-up puts one. */
export function isFixUpKey(key: string): boolean {
  return normalizeFsPath(key) !== key;
}

/** One line for the log and the job summary. */
export function formatKeyFixUp(r: KeyFixUpReport): string {
  const lines = [
    `key fix-up: ${r.differing} of ${r.references} database keys differ from their OpenDAL fs path; ${r.copied} put at the verbatim key, ${r.present} already there, ${r.preExisting} pre-existing broken (no file), ${r.unrepresentable.length} not representable in S3, ${r.failed.length} failed`,
    ...r.unrepresentable.map((u) => `  not representable: ${JSON.stringify(u.key)} (${u.reason})`),
    ...r.failed.map((f) => `  failed: ${JSON.stringify(f.key)}: ${f.error}`),
  ];
  return lines.join('\n');
}
