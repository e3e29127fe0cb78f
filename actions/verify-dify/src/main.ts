import * as core from '@actions/core';
import {
  actionLogger,
  BlockedError,
  CheckFailedError,
  runAction,
  setOutputs,
  table,
  writeSummary,
} from '@dify-storage/action-kit';
import {
  VerifyOutputs,
  incompleteMessage,
  readVerifyConfig,
  runVerify,
} from '@dify-storage/operations';
import { failedStages, renderDataFlowTable, renderMermaid } from '@dify-storage/verify';

const ACTION_ID = 'verify-dify';

export async function run(): Promise<void> {
  await runAction(ACTION_ID, async () => {
    const config = readVerifyConfig();
    const report = await core.group('Verifying every stage of the data flow', () =>
      runVerify(config, actionLogger()),
    );
    const failed = failedStages(report);
    setOutputs({
      [VerifyOutputs.Verdict]: report.verdict,
      [VerifyOutputs.FailedStages]: failed.join(','),
      [VerifyOutputs.ReportPath]: report.reportPath,
    });
    await writeSummary((s) =>
      s
        .addHeading(`Dify on S3: ${headline(report.verdict, failed, report.unproved)}`)
        .addRaw(`\n\n${renderDataFlowTable(report)}\n\n`)
        // GitHub renders mermaid only from a fenced block, not from <pre lang>.
        .addRaw(`\n\n\`\`\`mermaid\n${renderMermaid(report)}\n\`\`\`\n\n`)
        .addTable(
          table(
            ['stage', 'result', 'time', 'evidence'],
            report.stages.map((st) => [st.stage, st.status, `${st.durationMs} ms`, st.summary]),
          ),
        )
        .addRaw(report.cleanup.length ? `\n\nProbe clean-up: ${report.cleanup.join('; ')}.\n` : ''),
    );
    if (report.verdict === 'fail') {
      throw new CheckFailedError(
        `stage(s) failed: ${report.stages
          .filter((st) => st.status === 'fail')
          .map((st) => `${st.stage} (${st.summary})`)
          .join('; ')}`,
      );
    }
    if (report.verdict === 'incomplete') throw new BlockedError(incompleteMessage(report));
  });
}

function headline(verdict: string, failed: string[], unproved: string[]): string {
  if (verdict === 'pass') return 'every stage passed';
  if (verdict === 'fail') return `failed at ${failed.join(', ')}`;
  return `incomplete: ${unproved.join(', ')} not proved`;
}
