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
} from '@dify-storage/action-kit';
import { BackupOutputs, readBackupConfig, runBackup } from '@dify-storage/operations';

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
      await writeSummary((s) =>
        s
          .addHeading('Preflight passed')
          .addTable(
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
          ),
      );
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
    await writeSummary((s) =>
      s
        .addHeading(`Backup ${record.id}`)
        .addTable(
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
        .addCodeBlock(escapeHtml(record.restoreHint), 'sh'),
    );
  });
}
