/** The stages of Dify's data flow, in the order data moves through them. */
export const STAGES = [
  'workloads',
  'stored-files',
  'database-references',
  'dify-health',
  'write-path',
  'read-path',
  'worker-path',
  'storage-latency',
] as const;

export type StageName = (typeof STAGES)[number];
export type StageStatus = 'pass' | 'fail' | 'skipped';

export interface StageResult {
  stage: StageName;
  status: StageStatus;
  /** One line: why it failed or was skipped, or what passing proved. */
  summary: string;
  /** Facts gathered on the way (keys, sizes, timings, lists of missing keys). */
  evidence: Record<string, unknown>;
  durationMs: number;
}

/**
 * `pass` only when every stage ran and passed (or was skipped on purpose, by name);
 * `incomplete` when a stage was skipped for lack of an input: nothing failed, nothing was proved.
 * Exit codes 0, 1 and 3 of the one table.
 */
export type Verdict = 'pass' | 'fail' | 'incomplete';

export interface VerifyReport {
  verdict: Verdict;
  /** Stages skipped without being named in `skip-stages`: what keeps the verdict incomplete. */
  unproved: StageName[];
  startedAt: string;
  finishedAt: string;
  bucket: string;
  stages: StageResult[];
}

/** The verdict of a set of stage results; `allowedSkips` are the stages skipped on purpose. */
export function verdictOf(
  stages: readonly StageResult[],
  allowedSkips: readonly StageName[] = [],
): { verdict: Verdict; unproved: StageName[] } {
  const unproved = stages
    .filter((s) => s.status === 'skipped' && !allowedSkips.includes(s.stage))
    .map((s) => s.stage);
  if (stages.some((s) => s.status === 'fail')) return { verdict: 'fail', unproved };
  return { verdict: unproved.length > 0 ? 'incomplete' : 'pass', unproved };
}

export function failedStages(report: VerifyReport): StageName[] {
  return report.stages.filter((s) => s.status === 'fail').map((s) => s.stage);
}

/** Runs one stage, timing it and turning an unexpected error into that stage's failure. */
export async function runStage(
  stage: StageName,
  check: () => Promise<Omit<StageResult, 'stage' | 'durationMs'>>,
): Promise<StageResult> {
  const started = performance.now();
  try {
    const result = await check();
    return { stage, ...result, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    // A wrong input (an endpoint that is not S3) is no verdict on the system: refuse, exit 2, so
    // that the automatic rollback, which fires on `fail`, does not undo a healthy cutover.
    if ((error as { outcome?: unknown }).outcome === 'usage') throw error;
    return {
      stage,
      status: 'fail',
      summary: (error as Error).message,
      evidence: {},
      durationMs: Math.round(performance.now() - started),
    };
  }
}

export const skipped = (summary: string): Omit<StageResult, 'stage' | 'durationMs'> => ({
  status: 'skipped',
  summary,
  evidence: {},
});
