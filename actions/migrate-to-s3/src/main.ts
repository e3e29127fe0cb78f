import * as core from '@actions/core';
import {
  actionLogger,
  CheckFailedError,
  escapeHtml,
  formatBytes,
  logUntrusted,
  runAction,
  setOutputs,
  table,
  writeSummary,
} from '@dify-storage/action-kit';
import { MigrateOutputs, readMigrateConfig, runMigrate } from '@dify-storage/operations';

const ACTION_ID = 'migrate-to-s3';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readMigrateConfig();
    const target = `s3://${config.s3.bucket}${config.s3.endpoint ? ` at ${config.s3.endpoint}` : ''}`;
    const result = await core.group(`${config.mode} ${config.storagePath} → ${target}`, () =>
      runMigrate(config, actionLogger()),
    );
    logUntrusted(result.text);
    if (result.mode === 'verify') {
      const c = result.report.counts;
      setOutputs({
        [MigrateOutputs.Copied]: 0,
        [MigrateOutputs.Skipped]: c.matched,
        [MigrateOutputs.Failed]: c.missing + c.size + c.hash + c.errors,
        [MigrateOutputs.Bytes]: 0,
        [MigrateOutputs.ReportPath]: result.reportPath,
      });
      await writeSummary((s) =>
        s
          .addHeading(
            `Bucket verification: ${result.report.ok ? 'identical' : 'differences found'}`,
          )
          .addTable(
            table(
              ['files', 'matched', 'missing', 'size differs', 'hash differs', 'extra', 'read back'],
              [[c.files, c.matched, c.missing, c.size, c.hash, c.extra, c.readBack]],
            ),
          )
          .addCodeBlock(escapeHtml(result.text)),
      );
      if (!result.report.ok)
        throw new CheckFailedError(`the bucket differs from the source:\n${result.text}`);
      return;
    }
    const r = result.report;
    const c = r.counts;
    setOutputs({
      [MigrateOutputs.Copied]: c.copied,
      [MigrateOutputs.Skipped]: c.skipped,
      [MigrateOutputs.Failed]: c.failed,
      [MigrateOutputs.Bytes]: r.bytes.copied,
      [MigrateOutputs.ReportPath]: result.reportPath,
    });
    await writeSummary((s) =>
      s
        .addHeading(
          `${r.dryRun ? 'Dry run: ' : ''}${result.mode} copy ${r.ok ? 'complete' : 'FAILED'}`,
        )
        .addTable(
          table(
            ['', 'files', 'bytes'],
            [
              [r.dryRun ? 'would copy' : 'copied', c.copied, formatBytes(r.bytes.copied)],
              ['skipped (identical)', c.skipped, formatBytes(r.bytes.skipped)],
              ['failed', c.failed, ''],
              ['unsupported (symlinks, sockets, unreadable)', c.unsupported, ''],
              ['excluded', c.excluded, ''],
            ],
          ),
        )
        .addRaw(
          `\n\n${(r.durationMs / 1000).toFixed(1)} s, ${r.throughput.filesPerSec} files/s, ${formatBytes(r.throughput.bytesPerSec)}/s. Report: \`${result.reportPath}\`\n`,
        )
        .addCodeBlock(escapeHtml(result.text)),
    );
    if (!r.ok)
      throw new CheckFailedError(`${c.failed} file(s) could not be copied:\n${result.text}`);
  });
}
