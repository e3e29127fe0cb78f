/** The convert-workloads action's run(), in-process, as the runner would drive it (inputs, output files). */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { S3Credentials } from '@dify-storage/s3';
import { acquireLock, objectPath } from '@dify-storage/kube';
import { run } from '../../../actions/convert-workloads/src/main.js';
import { runActionInProcess } from '../../../action-tests/src/bundles.js';
import { NS, startFixture, type ConvertFixture } from './convert-support.js';

let fx: ConvertFixture;
// core.summary remembers the first summary file it saw: one file for the whole suite.
let runnerDir: string;
beforeAll(async () => {
  runnerDir = await mkdtemp(path.join(os.tmpdir(), 'convert-runner-'));
});
afterAll(async () => {
  await rm(runnerDir, { recursive: true, force: true });
});
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx?.close();
});

/** Runs the action with these inputs; stdout (workflow commands, log) is captured, not printed. */
async function runStep(
  phase: string,
  extra: Record<string, string> = {},
): ReturnType<typeof runActionInProcess> {
  const config = fx.config();
  const creds = config.s3.credentials as S3Credentials;
  const inputs: Record<string, string> = {
    phase,
    kubeconfig: fx.kubeconfig,
    namespace: NS,
    bucket: fx.bucket,
    endpoint: config.s3.endpoint!,
    region: config.s3.region,
    'access-key-id': creds.accessKeyId,
    'secret-access-key': creds.secretAccessKey,
    'storage-path': fx.storageDir,
    // This fixture has no backup: the cutover is told to go on without one.
    'no-backup': 'true',
    'state-dir': fx.stateDir,
    'rollout-timeout': '30',
    'run-id': 'github-run-1-1',
    ...extra,
  };
  return runActionInProcess(run, inputs, {
    output: path.join(runnerDir, 'github-output'),
    summary: path.join(runnerDir, 'step-summary'),
  });
}

describe('convert-workloads action', () => {
  it('plan: sets the outputs and puts the plan in the summary, changing nothing', async () => {
    const step = await runStep('plan');
    expect(step.failed).toBe(false);
    expect(step.outputs['mutation-started']).toBe('false');
    expect(step.outputs['plan-path']).toBe(path.join(fx.stateDir, 'convert', 'plan.md'));
    expect(step.outputs['freeze-seconds']).toBe('');
    expect(step.summary).toContain('<h1>Cutover plan: ready</h1>');
    expect(step.summary).toContain('### ConfigMap `dify-shared-config`');
    expect(step.summary).toContain('`S3_ACCESS_KEY`, `S3_SECRET_KEY` (values are never shown)');
    const secret = fx.config().difyKeys!.secretKey;
    expect(step.summary).not.toContain(secret);
    // Masked, never printed in clear outside the add-mask command.
    expect(step.log.replaceAll(`::add-mask::${secret}`, '')).not.toContain(secret);
  });

  it('plan: a blocked plan (a bucket that does not exist) fails its step, so nobody approves it', async () => {
    const step = await runStep('plan', { bucket: `${fx.bucket}-absent` });
    expect(step.failed).toBe(true);
    expect(step.log).toMatch(
      /::error::convert-workloads: the plan is blocked by 1 finding\(s\): bucket-unusable/,
    );
    expect(step.outputs['mutation-started']).toBe('false');
    expect(step.summary).toContain('does not exist');
  });

  it('refuses while another run holds the lock, naming the holder', async () => {
    await acquireLock(fx.client, { namespace: NS, holder: 'github-run-77-1', ttlSeconds: 300 });
    const step = await runStep('cutover');
    expect(step.failed).toBe(true);
    expect(step.log).toMatch(
      /::error::convert-workloads: refused: another run \("github-run-77-1"\) is working on this namespace/,
    );
    expect(step.outputs['mutation-started']).toBe('false');
    expect(step.summary).toContain('FAILED');
    expect(step.summary).toContain('Nothing was changed in the cluster.');
  });

  it('a crash-looping rollout: mutation-started is true and the summary lists the changes so far', async () => {
    fx.cluster.sim.failing.add('dify-worker');
    const step = await runStep('cutover');
    expect(step.failed).toBe(true);
    expect(step.log).toContain('deployment "dify-worker" exceeded its progress deadline');
    expect(step.log).toContain('CrashLoopBackOff');
    // The stack of a bug is not printed for an expected failure.
    expect(step.log).not.toMatch(/\n\s+at \S+ \(/);
    expect(step.outputs['mutation-started']).toBe('true');
    expect(step.outputs.changes).toBe(path.join(fx.stateDir, 'convert', 'changes.json'));
    expect(step.summary).toContain('Changes made in the cluster');
    expect(step.summary).toContain('StatefulSet/dify-api');
    expect(step.summary).toContain('Deployment/dify-worker');
    expect(step.summary).toContain('Final delta copy');
    expect(step.summary).toContain('roll back, or fix the cause and re-run');
    // Groups are never nested: each ::group:: is closed before the next opens.
    const marks = step.log.match(/::(end)?group::/g) ?? [];
    expect(marks.length).toBeGreaterThan(2);
    marks.forEach((m, i) => expect(m).toBe(i % 2 === 0 ? '::group::' : '::endgroup::'));
    expect(await fx.client.getOrNull(objectPath('StatefulSet', NS, 'dify-worker'))).toBeDefined();
  });
});
