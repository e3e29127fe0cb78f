import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REVIEWED_ENVIRONMENT, startFakeGitHub, type FakeGitHub } from '../../src/fake-github.js';
import { runWorkflow, type JobRun } from '../../src/workflow-runner.js';

/**
 * Issue 14 §4: without required reviewers an environment releases the cutover at once. The
 * reusable workflow reads the cutover environment's protection rules at the start (GitHub REST
 * `GET /repos/{owner}/{repo}/environments/{name}`) and refuses mode migrate before anything is
 * read, unless the caller says its GitHub plan has no reviewers (approval: dispatch).
 */
describe('the approval gate check at the start of the workflow', () => {
  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(() => gh.close());

  // The plan job's read-only bucket keys (required in modes dry-run and migrate).
  const READ_KEYS = {
    's3-read-access-key-id': 'READKEY',
    's3-read-secret-access-key': 'readsecret',
  };
  const run = async (inputs: Record<string, string> = {}, secrets = READ_KEYS) => {
    gh.requests.length = 0;
    const runs = await runWorkflow('dify-storage-migration.yml', {
      inputs: { mode: 'migrate', bucket: 'dify', ...inputs },
      secrets,
      github: { api_url: gh.apiUrl, repository: 'acme/dify-ops', token: 'ghs_test-token' },
      env: { HOME: process.env.HOME },
    });
    const preflight = runs.preflight!;
    const gate = preflight.steps.find((s) => s.id === 'gate');
    return { runs, preflight, gate, log: gate ? gate.result.stdout + gate.result.stderr : '' };
  };
  const later = (runs: Record<string, JobRun>) =>
    ['backup', 'bulk-copy', 'plan', 'cutover'].map((j) => runs[j]!.result);

  it('refuses modes dry-run and migrate without read-only bucket keys for the plan, before anything', async () => {
    gh.answer = { status: 200, body: REVIEWED_ENVIRONMENT };
    for (const mode of ['dry-run', 'migrate']) {
      const { runs, preflight } = await run({ mode }, {} as typeof READ_KEYS);
      const validate = preflight.steps.find((s) => s.id === 'validate')!;
      expect(validate.result.code).toBe(2);
      expect(validate.result.stdout + validate.result.stderr).toContain(
        `::error::the secrets s3-read-access-key-id and s3-read-secret-access-key are required in mode ${mode}`,
      );
      expect(preflight.steps.map((s) => s.id)).toEqual(['validate']);
      expect(later(runs)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    }
    expect(gh.requests).toEqual([]);
  }, 60_000);

  it('passes when the environment has required reviewers (and asked GitHub with the token)', async () => {
    gh.answer = { status: 200, body: REVIEWED_ENVIRONMENT };
    const { gate, log } = await run();
    expect(gate!.result.code).toBe(0);
    expect(log).toContain("The environment 'dify-cutover' has required reviewers");
    expect(gh.requests).toEqual([
      { url: '/repos/acme/dify-ops/environments/dify-cutover', auth: 'Bearer ghs_test-token' },
    ]);
  }, 60_000);

  it('refuses mode migrate when the environment has no required reviewers, before anything else runs', async () => {
    gh.answer = {
      status: 200,
      body: { name: 'dify-cutover', protection_rules: [{ type: 'branch_policy' }] },
    };
    const { runs, preflight, gate, log } = await run();
    expect(gate!.result.code).toBe(2);
    expect(log).toContain(
      "::error::the environment 'dify-cutover' has no required reviewers, so the cutover would run unapproved.",
    );
    expect(log).toContain('set approval: dispatch');
    // The preflight action never ran; no job after it either.
    expect(preflight.steps.map((s) => s.id)).toEqual(['validate', 'gate']);
    expect(later(runs)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
  }, 60_000);

  it('says which permission is missing when GitHub refuses to show the environment', async () => {
    gh.answer = { status: 403, body: { message: 'Resource not accessible by integration' } };
    const { gate, log } = await run();
    expect(gate!.result.code).toBe(4);
    expect(log).toContain("give the calling workflow 'permissions: actions: read'");
  }, 60_000);

  it('refuses an environment that does not exist', async () => {
    gh.answer = { status: 404, body: { message: 'Not Found' } };
    const { gate, log } = await run({ environment: 'dify-cutvoer' });
    expect(gate!.result.code).toBe(2);
    expect(log).toContain("the environment 'dify-cutvoer' does not exist");
  }, 60_000);

  it('does not ask with approval: dispatch, nor in a dry run', async () => {
    const cases: Record<string, string>[] = [{ approval: 'dispatch' }, { mode: 'dry-run' }];
    for (const inputs of cases) {
      const { gate, preflight } = await run(inputs);
      expect(gate).toBeUndefined();
      expect(gh.requests).toEqual([]);
      expect(preflight.steps[0]!.result.code).toBe(0);
    }
  }, 60_000);

  it('refuses an approval mode it does not know', async () => {
    const { preflight } = await run({ approval: 'nobody' });
    expect(preflight.steps.map((s) => s.result.code)).toEqual([1]);
    expect(preflight.steps[0]!.result.stdout).toContain(
      "approval is 'nobody'; allowed values are: reviewers, dispatch",
    );
  }, 60_000);
});
