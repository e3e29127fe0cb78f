import * as core from '@actions/core';
import {
  CheckFailedError,
  formatBytes,
  runAction,
  setOutputs,
  table,
  writeSummary,
} from '@dify-storage/action-kit';
import {
  EXPECTED_ERRORS,
  RollbackOutputs,
  readRollbackConfig,
  runRollback,
} from '@dify-storage/operations';

const ACTION_ID = 'rollback';

export async function run(): Promise<void> {
  await runAction(
    ACTION_ID,
    async () => {
      const config = readRollbackConfig();
      const r = await core.group(`Rolling back ${config.kube.namespace} to hostPath`, () =>
        runRollback(config, { info: core.info, warn: core.warning }),
      );
      core.info(r.message);
      setOutputs({
        [RollbackOutputs.BackupId]: r.backupId,
        [RollbackOutputs.RestoredFiles]: r.restore?.files ?? 0,
        [RollbackOutputs.CopiedBack]: r.copyBack?.copied ?? 0,
        [RollbackOutputs.Refused]: r.copyBack?.refused ?? 0,
        [RollbackOutputs.DowntimeSeconds]: r.downtimeSeconds,
        [RollbackOutputs.ReportPath]: r.reportPath,
      });
      const failed = r.checks.filter((c) => !c.ok);
      await writeSummary((s) =>
        s
          .addHeading(
            r.noop ? 'Already rolled back: nothing changed' : `Rolled back to backup ${r.backupId}`,
          )
          .addTable(
            table(
              ['', ''],
              [
                ['storage directory', r.storagePath],
                [
                  'previous content moved aside to (not deleted)',
                  r.movedAside.join(', ') || 'nothing moved',
                ],
                [
                  'restored from the archive',
                  r.restore
                    ? `${r.restore.files} files, ${formatBytes(r.restore.bytes)}, each verified`
                    : 'already done',
                ],
                [
                  'copied back from the bucket',
                  r.copyBack
                    ? `${r.copyBack.copied} objects, ${formatBytes(r.copyBack.bytes)} (list: ${r.copyBack.listPath})`
                    : '—',
                ],
                ['refused as unsafe keys', r.copyBack?.refusedKeys.join('<br>') || 'none'],
                ['downtime', `${r.downtimeSeconds} s`],
              ],
            ),
          )
          .addHeading('Kubernetes changes', 3)
          .addList(r.journal.map((e) => `${e.action} ${e.kind}/${e.name}: ${e.detail}`))
          .addHeading('Checks of the restored system', 3)
          .addTable(
            table(
              ['check', 'result', 'detail'],
              r.checks.map((c) => [c.name, c.ok ? 'pass' : 'FAIL', c.detail]),
            ),
          ),
      );
      if (failed.length > 0) {
        throw new CheckFailedError(
          `the restored system failed ${failed.length} check(s): ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
        );
      }
    },
    { expected: EXPECTED_ERRORS },
  );
}
