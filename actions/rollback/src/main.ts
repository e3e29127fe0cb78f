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
import { RollbackOutputs, readRollbackConfig, runRollback } from '@dify-storage/operations';

const ACTION_ID = 'rollback';
/** Refused keys shown in the summary; the full list is in the copy-back list file. */
const REFUSED_SHOWN = 20;

function refusedCell(keys: string[], listPath: string | undefined): string {
  if (keys.length === 0) return 'none';
  const shown = keys.slice(0, REFUSED_SHOWN).map(escapeHtml).join('<br>');
  return keys.length > REFUSED_SHOWN
    ? `${shown}<br>… and ${keys.length - REFUSED_SHOWN} more (list: ${escapeHtml(listPath ?? '')})`
    : shown;
}

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readRollbackConfig();
    const r = await core.group(`Rolling back ${config.kube.namespace} to hostPath`, () =>
      runRollback(config, actionLogger()),
    );
    logUntrusted(r.message);
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
              [
                'refused as unsafe keys',
                refusedCell(r.copyBack?.refusedKeys ?? [], r.copyBack?.listPath),
              ],
              ['downtime', `${r.downtimeSeconds} s`],
            ],
          ),
        )
        .addHeading('Kubernetes changes', 3)
        .addList(r.journal.map((e) => escapeHtml(`${e.action} ${e.kind}/${e.name}: ${e.detail}`)))
        .addHeading('Checks of the restored system', 3)
        .addTable(
          table(
            ['check', 'result', 'detail'],
            r.checks.map((c) => [escapeHtml(c.name), c.ok ? 'pass' : 'FAIL', escapeHtml(c.detail)]),
          ),
        ),
    );
    if (failed.length > 0) {
      throw new CheckFailedError(
        `the restored system failed ${failed.length} check(s): ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
      );
    }
  });
}
