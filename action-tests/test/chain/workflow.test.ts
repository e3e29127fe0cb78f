import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  installWorkflowSecrets,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { startFakeGitHub, type FakeGitHub } from '../../src/fake-github.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { runWorkflow, type JobRun } from '../../src/workflow-runner.js';

/**
 * The reusable workflow, run job by job with the committed action bundles under Node 24, the
 * way a self-hosted runner on the storage node would, against the simulated install.
 */
describe('the migration workflow with the committed bundles', () => {
  let install: SimulatedInstall;
  let work: string;

  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(() => gh.close());

  beforeEach(async () => {
    install = await startSimulatedInstall({ env: testEnv(), files: 40, timeScale: 0.1 });
    work = await mkdtemp(path.join(os.tmpdir(), 'chain-'));
  }, 120_000);
  afterEach(async () => {
    await install?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const run = (
    overrides: Record<string, string | number>,
    approve = true,
    eventName = 'workflow_dispatch',
  ) =>
    runWorkflow('dify-storage-migration.yml', {
      eventName,
      inputs: {
        mode: 'migrate',
        namespace: install.namespace,
        'storage-path': install.storagePath,
        'backup-dir': path.join(work, 'backups'),
        'state-dir': path.join(work, 'state'),
        bucket: install.bucket,
        endpoint: install.s3.endpoint,
        region: install.s3.region,
        'dify-url': install.difyUrl,
        ...overrides,
      },
      secrets: installWorkflowSecrets(install),
      // The runner machine: on the install's node.
      env: { NODE_NAME: install.node, HOME: process.env.HOME },
      approve: () => approve,
      // The environment check at start reads the cutover environment from (fake) GitHub.
      github: { api_url: gh.apiUrl, repository: 'acme/dify-ops', token: 'ghs_test' },
    });

  const results = (runs: Record<string, JobRun>) =>
    Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.result]));
  // What the log shows: the runner consumes ::add-mask:: commands instead of printing them.
  const stdout = (job: JobRun) =>
    job.steps
      .map((s) => s.result.stdout)
      .join('\n')
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');

  it('migrates: every job succeeds, the verdict is pass, and rollback is skipped', async () => {
    const runs = await run({});
    expect(results(runs)).toEqual({
      preflight: 'success',
      backup: 'success',
      'bulk-copy': 'success',
      plan: 'success',
      cutover: 'success',
      rollback: 'skipped',
    });
    expect(runs.backup!.outputs['backup-id']).toMatch(/^b-\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(runs.cutover!.outputs).toEqual({
      'mutation-started': 'true',
      verdict: 'pass',
      'rolled-back': '',
    });
    // No output or log line carries a secret.
    for (const job of Object.values(runs)) {
      const text = JSON.stringify(job.outputs) + stdout(job);
      expect(text).not.toContain(install.s3.secretAccessKey);
      expect(text).not.toContain(install.secretKey);
    }
    const verify = runs.cutover!.steps.find((s) => s.id === 'verify')!;
    const summary = (verify.result as { summary: string }).summary;
    expect(summary).toContain('every stage passed');
    expect(summary).toContain('```mermaid');
  }, 300_000);

  it('rolls back by itself, inside the approved cutover job, when the cutover fails after it changed things', async () => {
    // A storage latency above the threshold is one of the runbook's rollback triggers.
    const runs = await run({ 'latency-threshold-ms': 1 });
    // A step of the cutover job: a separate job on a gated environment would wait for approval.
    expect(results(runs)).toMatchObject({ cutover: 'failure', rollback: 'skipped' });
    expect(runs.cutover!.outputs['mutation-started']).toBe('true');
    expect(runs.cutover!.outputs.verdict).toBe('fail');
    expect(runs.cutover!.outputs['rolled-back']).toBe('success');
    expect(stdout(runs.cutover!)).toContain('storage-latency');
    const auto = runs.cutover!.steps.find((s) => s.id === 'auto-rollback')!;
    expect((auto.result as { outputs: Record<string, string> }).outputs['backup-id']).toBe(
      runs.backup!.outputs['backup-id'],
    );
    // The old system is back: StatefulSets on the hostPath, no Deployments.
    const kinds = (r: string) =>
      install.server.api
        .list(r as never, install.namespace)
        .items.map((o: unknown) => (o as { metadata: { name: string } }).metadata.name);
    expect(kinds('statefulsets').sort()).toEqual(['dify-api', 'dify-worker']);
    expect(kinds('deployments')).toEqual([]);
    await install.waitForApi();
    expect(await readdir(install.storagePath)).toEqual(
      expect.arrayContaining(['upload_files', 'privkeys']),
    );
  }, 300_000);

  it('refuses the cutover without the inputs verification needs, before any change', async () => {
    const runs = await run({ 'dify-url': '' });
    expect(results(runs)).toMatchObject({
      plan: 'success',
      cutover: 'failure',
      rollback: 'skipped',
    });
    expect(stdout(runs.cutover!)).toContain('missing: input dify-url. Nothing was changed.');
    expect(runs.cutover!.outputs['mutation-started']).toBe('');
    const kinds = install.server.api
      .list('statefulsets' as never, install.namespace)
      .items.map((o: unknown) => (o as { metadata: { name: string } }).metadata.name);
    expect(kinds.sort()).toEqual(['dify-api', 'dify-worker']);
  }, 300_000);

  it('runs no job for a pull request, whatever it asks for', async () => {
    for (const event of ['pull_request', 'pull_request_target']) {
      const runs = await run({}, true, event);
      expect(Object.values(results(runs))).toEqual(Array(6).fill('skipped'));
    }
  });

  it('does not roll back when the approval is rejected: nothing was changed', async () => {
    const runs = await run({}, false);
    expect(results(runs)).toMatchObject({
      plan: 'success',
      cutover: 'failure',
      rollback: 'skipped',
    });
    expect(runs.cutover!.note).toContain('rejected');
    expect(runs.cutover!.outputs['mutation-started']).toBe('');
    const sts = install.server.api.list('statefulsets' as never, install.namespace).items;
    expect(sts).toHaveLength(2);
  }, 300_000);
});
