import * as core from '@actions/core';

/** The runner refuses step summaries above 1 MiB; stay well below it. */
const SUMMARY_LIMIT = 900 * 1024;

export type SummaryBuilder = typeof core.summary;

/**
 * Writes the job summary when the runner provides one (GITHUB_STEP_SUMMARY) and does nothing
 * otherwise, so actions also run from a shell. Oversized summaries are cut with a note.
 */
export async function writeSummary(build: (s: SummaryBuilder) => void): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  core.summary.emptyBuffer();
  build(core.summary);
  const text = core.summary.stringify();
  if (Buffer.byteLength(text) > SUMMARY_LIMIT) {
    core.summary.emptyBuffer();
    core.summary.addRaw(text.slice(0, SUMMARY_LIMIT - 200));
    core.summary.addRaw('\n\n_Summary truncated; the full report is in the artifact._\n');
  }
  await core.summary.write();
}

/** Rows for `summary.addTable`: the first row is the header. */
export function table(
  header: string[],
  rows: (string | number)[][],
): Parameters<SummaryBuilder['addTable']>[0] {
  return [
    header.map((h) => ({ data: h, header: true })),
    ...rows.map((r) => r.map((c) => String(c))),
  ];
}
