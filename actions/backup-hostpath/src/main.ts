import * as core from '@actions/core';
import {
  actionLogger,
  escapeHtml,
  formatBytes,
  formatDuration,
  runAction,
  setOutputs,
  table,
  writeSummary,
  type SummaryBuilder,
} from '@dify-storage/action-kit';
import {
  BackupOutputs,
  readBackupConfig,
  runBackup,
  type PreExistingReferences,
} from '@dify-storage/operations';

/** References broken before anything was touched, per kind, and the first keys (escaped). */
function addPreExisting(s: SummaryBuilder, p: PreExistingReferences | undefined): void {
  if (!p) return;
  s.addHeading('Database references broken before the migration', 3).addTable(
    table(
      ['kind', 'pre-existing broken'],
      [
        ...Object.entries(p.perKind).map(([k, n]) => [k, n]),
        ['total', `${p.total} of ${p.references} references`],
      ],
    ),
  );
  if (p.total === 0) return;
  s.addRaw(
    `<p>Their file is not in ${escapeHtml(p.storagePath)} before the migration: reported, not failed by verify.</p>`,
  ).addList(p.examples.slice(0, 20).map((e) => escapeHtml(`${e.kind} ${JSON.stringify(e.key)}`)));
}

const ACTION_ID = 'backup-hostpath';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readBackupConfig();
    const result = await core.group(
      config.preflightOnly
        ? 'Preflight'
        : `Backing up ${config.storagePath ?? 'the hostPath storage'}`,
      () => runBackup(config, actionLogger()),
    );
    const p = result.preflight;
    if (!result.backup) {
      await writeSummary((s) => {
        s.addHeading('Preflight passed').addTable(
          table(
            ['node', 'storage', 'files', 'data', 'room needed', 'room free'],
            [
              [
                result.node,
                result.storagePath,
                p.files,
                formatBytes(p.dataBytes),
                formatBytes(p.estimatedBackupBytes + p.marginBytes),
                formatBytes(p.availableBytes),
              ],
            ],
          ),
        );
        addPreExisting(s, result.preExisting);
      });
      return;
    }
    const { record, recordPath, archivePath, manifestPath } = result.backup;
    setOutputs({
      [BackupOutputs.BackupId]: record.id,
      [BackupOutputs.RecordPath]: recordPath,
      [BackupOutputs.ArchivePath]: archivePath,
      [BackupOutputs.ManifestPath]: manifestPath,
      [BackupOutputs.Files]: record.counts.files,
      [BackupOutputs.Bytes]: record.counts.dataBytes,
      [BackupOutputs.ArchiveBytes]: record.archive.bytes,
      [BackupOutputs.SnapshotPath]: result.sanitizedYamlPath ?? '',
    });
    await writeSummary((s) => {
      addPreExisting(s.addHeading(`Backup ${record.id}`), result.preExisting);
      s.addTable(
        table(
          ['', ''],
          [
            ['node / storage', `${result.node}: ${result.storagePath}`],
            [
              'files / data',
              `${record.counts.files} files, ${formatBytes(record.counts.dataBytes)}`,
            ],
            [
              'archive',
              `${archivePath} (${formatBytes(record.archive.bytes)}, sha256 ${record.archive.sha256})`,
            ],
            ['manifest', manifestPath],
            [
              'verified',
              record.verification.verified
                ? `yes, ${record.verification.files} files re-read`
                : 'no',
            ],
            [
              'time',
              `${formatDuration(record.durations.totalMs)} (${formatBytes(record.throughput.archiveBytesPerSecond)}/s)`,
            ],
            [
              'Kubernetes objects',
              record.kubernetes.objects.map((o) => `${o.kind}/${o.name}`).join(', '),
            ],
            ['skipped (not regular files)', String(record.counts.skipped)],
            [
              'retention',
              `kept ${result.retention?.kept.length ?? 0}, deleted ${result.retention?.deleted.map((d) => d.id).join(', ') || 'none'}`,
            ],
          ],
        ),
      )
        .addHeading('Restore by hand', 3)
        .addCodeBlock(escapeHtml(record.restoreHint), 'sh');
    });
  });
}
