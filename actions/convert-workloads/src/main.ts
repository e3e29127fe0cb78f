import * as core from '@actions/core';
import {
  actionLogger,
  BlockedError,
  formatBytes,
  formatDuration,
  runAction,
  setOutputs,
  table,
  writeSummary,
  type SummaryBuilder,
  escapeHtml,
} from '@dify-storage/action-kit';
import {
  ConvertFailedError,
  ConvertOutputs,
  lockHolderOf,
  readConvertConfig,
  runConvert,
  type ConvertProgress,
  type ConvertResult,
} from '@dify-storage/operations';

const ACTION_ID = 'convert-workloads';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readConvertConfig();
    // Set before anything can change, so the workflow's rollback condition is never unset.
    core.setOutput(ConvertOutputs.MutationStarted, 'false');
    let groupOpen = false;
    const endGroup = (): void => {
      if (groupOpen) core.endGroup();
      groupOpen = false;
    };
    try {
      const result = await runConvert(config, actionLogger(), {
        onMutation: () => core.setOutput(ConvertOutputs.MutationStarted, 'true'),
        // One group per step, never nested.
        onStep: (title) => {
          endGroup();
          core.startGroup(title);
          groupOpen = true;
        },
      });
      endGroup();
      setOutputs(outputsOf(result));
      await writeSummary((s) => {
        s.addHeading(headingOf(result)).addRaw(`\n\n${result.message}\n\n`);
        addFigures(s, result);
        if (result.phase === 'plan') s.addRaw(`\n\n${result.planMarkdown}\n`);
        else {
          addChanges(s, result);
          s.addDetails('The plan this run started from', `\n\n${result.planMarkdown}\n\n`);
        }
      });
      // A blocked plan fails its step (exit 3 in the CLI): nobody is asked to approve it.
      const blockers = result.phase === 'plan' ? result.plan.blockers : [];
      if (blockers.length > 0) {
        throw new BlockedError(
          `the plan is blocked by ${blockers.length} finding(s): ${blockers.map((b) => b.code).join(', ')} (see the plan in the job summary)`,
        );
      }
    } catch (error) {
      endGroup();
      const progress = error instanceof ConvertFailedError ? error.progress : undefined;
      if (progress) {
        setOutputs(outputsOf(progress));
        // A summary that cannot be written must not hide the failure itself.
        await writeSummary((s) => {
          s.addHeading(`Cutover phase <code>${progress.phase}</code> FAILED`).addCodeBlock(
            escapeHtml((error as ConvertFailedError).reason),
          );
          addFigures(s, progress);
          addChanges(s, progress);
          s.addRaw(
            progress.mutationStarted
              ? '\n\n**The cluster was changed before the failure: roll back, or fix the cause and re-run (apply converges).**\n'
              : '\n\nNothing was changed in the cluster.\n',
          );
          if (progress.planMarkdown) s.addDetails('The plan', `\n\n${progress.planMarkdown}\n\n`);
        }).catch((e: unknown) => core.warning(`Could not write the job summary: ${String(e)}`));
      }
      const lock = lockHolderOf(error);
      if (lock) {
        throw new BlockedError(
          `refused: another run ("${lock.holder}") is working on this namespace. ${lock.message}`,
        );
      }
      throw error;
    }
  });
}

function headingOf(r: ConvertResult): string {
  if (r.phase === 'plan') {
    const blocked = r.plan.blockers.length;
    return `Cutover plan: ${r.noop ? 'already converted, nothing to change' : blocked ? `blocked by ${blocked} finding(s)` : 'ready'}`;
  }
  return `Cutover phase <code>${r.phase}</code>: ${r.noop ? 'nothing to change (no-op)' : 'done'}`;
}

function outputsOf(p: ConvertProgress): Record<string, string> {
  return {
    [ConvertOutputs.MutationStarted]: String(p.mutationStarted),
    [ConvertOutputs.FreezeSeconds]: p.freezeSeconds === undefined ? '' : String(p.freezeSeconds),
    [ConvertOutputs.PlanPath]: p.planPath ?? '',
    [ConvertOutputs.PlanHash]: p.planHash ?? '',
    [ConvertOutputs.Changes]: p.changesPath,
  };
}

function addFigures(s: SummaryBuilder, p: ConvertProgress): void {
  if (p.freezeSeconds !== undefined) {
    s.addRaw(
      `\n\n**Write-freeze window** (freeze → Deployments available): ${p.freezeSeconds} s\n\n`,
    );
  }
  if (p.replicas) {
    s.addRaw(
      `Replica counts before the freeze: ${Object.entries(p.replicas)
        .map(([name, n]) => `\`${name}\` ${n}`)
        .join(', ')}\n\n`,
    );
  }
  const d = p.delta;
  if (d) {
    s.addHeading('Final delta copy', 3).addTable(
      table(
        ['files', 'copied', 'skipped (identical)', 'failed', 'unsupported', 'bytes copied', 'time'],
        [
          [
            d.files,
            d.copied,
            d.skipped,
            d.failed,
            d.unsupported,
            formatBytes(d.bytesCopied),
            formatDuration(d.durationMs),
          ],
        ],
      ),
    );
    // How the delta found the changes: what the freeze window grows with.
    if (d.scanText) s.addRaw(`\n\n${escapeHtml(d.scanText)}\n\n`);
  }
}

function addChanges(s: SummaryBuilder, p: ConvertProgress): void {
  s.addHeading('Changes made in the cluster', 3);
  if (p.journal.length === 0) {
    s.addRaw('\n\nNo change was made in the cluster.\n\n');
    return;
  }
  s.addTable(
    table(
      ['time', 'action', 'object', 'detail'],
      p.journal.map((e) => [e.at, e.action, `${e.kind}/${e.name}`, e.detail]),
    ),
  ).addRaw(`\n\nAlso in \`${p.changesPath}\`.\n\n`);
}
