import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/proving-ground/index.js';

type Job = {
  if?: string;
  needs?: string | string[];
  environment?: string;
  'timeout-minutes'?: number;
  uses?: string;
  outputs?: Record<string, string>;
  steps?: {
    uses?: string;
    with?: Record<string, string>;
    env?: Record<string, string>;
    id?: string;
    name?: string;
    if?: string;
  }[];
  secrets?: Record<string, string>;
};
type Workflow = {
  on: Record<string, { inputs?: Record<string, unknown>; secrets?: Record<string, unknown> }>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<string, Job>;
};

const load = async (name: string) =>
  parse(await readFile(path.join(REPO_ROOT, '.github/workflows', name), 'utf8')) as Workflow;

describe('the reusable migration workflow', () => {
  it('gates the cutover and the rollback behind their environments, and nothing else', async () => {
    const wf = await load('dify-storage-migration.yml');
    const gated = Object.entries(wf.jobs).filter(([, j]) => j.environment !== undefined);
    expect(gated.map(([name]) => name)).toEqual(['cutover', 'rollback']);
    expect(wf.jobs.cutover!.environment).toBe('${{ inputs.environment }}');
    expect(wf.jobs.rollback!.environment).toBe('${{ inputs.rollback-environment }}');
    // Approval by dispatch without the approved plan's hash stops after the plan.
    expect(wf.jobs.cutover!.if).toBe(
      "inputs.mode == 'migrate' && (inputs.approval == 'reviewers' || inputs.approved-plan-hash != '')",
    );
    expect(wf.jobs.cutover!.steps![1]!.with!['approved-plan-hash']).toBe(
      '${{ inputs.approved-plan-hash }}',
    );
    // First a check of verify's inputs (changes nothing), then the cutover, its verification,
    // and the automatic rollback when they failed.
    expect(wf.jobs.cutover!.steps!.map((s) => s.uses)).toEqual([
      undefined,
      '$/actions/convert-workloads',
      '$/actions/verify-dify',
      '$/actions/rollback',
    ]);
    expect(wf.jobs.cutover!.steps![1]!.with!.phase).toBe('cutover');
    expect(wf.jobs.cutover!.steps![1]!.with!['backup-id']).toBe(
      '${{ needs.backup.outputs.backup-id }}',
    );
  });

  it('rolls back by itself only on a failed cutover that had started changing things; by request through its own gate', async () => {
    const wf = await load('dify-storage-migration.yml');
    const auto = wf.jobs.cutover!.steps!.find((s) => s.id === 'auto-rollback')!;
    const condition = auto.if!.replace(/\s+/g, ' ');
    expect(condition).toContain('failure()');
    // An incomplete verification (a missing input) never rolls back a healthy system.
    expect(condition).toContain("steps.verify.outputs.verdict != 'incomplete'");
    expect(condition).toContain("steps.cutover.outputs.mutation-started == 'true'");
    expect(auto.with!['backup-id']).toBe('${{ needs.backup.outputs.backup-id }}');
    const rollback = wf.jobs.rollback!;
    expect(rollback.if!.replace(/\s+/g, ' ')).toContain("inputs.mode == 'rollback'");
    expect(rollback.needs).toBeUndefined();
  });

  it('least privilege: only the gated jobs get the write kubeconfig; the plan reads the bucket with read keys when given', async () => {
    const wf = await load('dify-storage-migration.yml');
    for (const [name, job] of Object.entries(wf.jobs)) {
      const gated = job.environment !== undefined;
      for (const step of job.steps ?? []) {
        const text = JSON.stringify({ with: step.with, env: step.env });
        if (!gated) expect([name, text.includes('DIFY_KUBECONFIG_WRITE')]).toEqual([name, false]);
        const kubeconfig = step.with?.kubeconfig;
        if (kubeconfig !== undefined) {
          expect([name, kubeconfig]).toEqual([
            name,
            gated ? '${{ secrets.DIFY_KUBECONFIG_WRITE }}' : '${{ secrets.kubeconfig }}',
          ]);
        }
      }
    }
    const plan = wf.jobs.plan!.steps![0]!.with!;
    expect(plan['access-key-id']).toBe('${{ secrets.s3-read-access-key-id }}');
    expect(plan['secret-access-key']).toBe('${{ secrets.s3-read-secret-access-key }}');
    // The bulk copy writes to the bucket but gets no kubeconfig at all.
    expect(JSON.stringify(wf.jobs['bulk-copy']!.steps)).not.toContain('kubeconfig');
  });

  it('no job reaches the storage-node runner on a pull_request event (defence in depth)', async () => {
    const wf = await load('dify-storage-migration.yml');
    const guard = "!startsWith(github.event_name, 'pull_request')";
    const refuses = (name: string): boolean => {
      const job = wf.jobs[name]!;
      const condition = (job.if ?? '').replace(/\s+/g, ' ');
      if (condition.includes(guard)) return true;
      // Without always(), a job whose needs were skipped is skipped too.
      const needs = [job.needs ?? []].flat();
      return !condition.includes('always()') && needs.length > 0 && needs.every(refuses);
    };
    for (const name of Object.keys(wf.jobs)) expect([name, refuses(name)]).toEqual([name, true]);
  });

  it('holds one never-cancelled lock per target, in the called workflow only', async () => {
    const wf = await load('dify-storage-migration.yml');
    expect(wf.concurrency).toEqual({
      group: 'dify-storage-migration-${{ inputs.namespace }}-${{ inputs.bucket }}',
      'cancel-in-progress': false,
    });
    for (const caller of ['migrate.yml', 'rollback.yml']) {
      const c = await load(caller);
      expect(c.concurrency).toBeUndefined();
      expect(c.jobs[Object.keys(c.jobs)[0]!]!.uses).toBe(
        './.github/workflows/dify-storage-migration.yml',
      );
    }
  });

  it('has minimal permissions, a timeout on every job with steps, and pinned third-party actions', async () => {
    for (const file of ['dify-storage-migration.yml', 'migrate.yml', 'rollback.yml', 'ci.yml']) {
      const wf = await load(file);
      // The callers grant actions: read, which only the reusable workflow's gate check uses.
      const callers = ['migrate.yml', 'rollback.yml'];
      expect(wf.permissions).toEqual(
        callers.includes(file) ? { contents: 'read', actions: 'read' } : { contents: 'read' },
      );
      for (const [name, job] of Object.entries(wf.jobs)) {
        const granted = (job as { permissions?: unknown }).permissions;
        if (granted !== undefined)
          expect({ name, granted }).toEqual({
            name: 'preflight',
            granted: { contents: 'read', actions: 'read' },
          });
      }
      for (const [name, job] of Object.entries(wf.jobs)) {
        if (job.steps)
          expect({ name, timeout: typeof job['timeout-minutes'] }).toEqual({
            name,
            timeout: 'number',
          });
        for (const step of job.steps ?? []) {
          if (!step.uses || step.uses.startsWith('$/') || step.uses.startsWith('./')) continue;
          expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        }
      }
    }
  });

  it('passes secrets explicitly and never puts one in a job output', async () => {
    const wf = await load('dify-storage-migration.yml');
    for (const [name, job] of Object.entries(wf.jobs)) {
      for (const value of Object.values(job.outputs ?? {})) {
        expect({ name, value }).toEqual({ name, value: expect.not.stringContaining('secrets.') });
      }
    }
    const migrate = await load('migrate.yml');
    expect(migrate.jobs.migrate!.secrets).not.toBe('inherit');
    expect(Object.keys(migrate.jobs.migrate!.secrets!)).toEqual(
      expect.arrayContaining(['kubeconfig', 's3-access-key-id', 's3-secret-access-key']),
    );
  });

  it('passes to each action only inputs that action declares', async () => {
    const wf = await load('dify-storage-migration.yml');
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps ?? []) {
        if (!step.uses?.startsWith('$/actions/')) continue;
        const meta = parse(
          await readFile(path.join(REPO_ROOT, step.uses.slice(2), 'action.yml'), 'utf8'),
        ) as { inputs: Record<string, unknown> };
        for (const input of Object.keys(step.with ?? {})) {
          expect({ action: step.uses, input, declared: input in meta.inputs }).toEqual({
            action: step.uses,
            input,
            declared: true,
          });
        }
      }
    }
  });
});
