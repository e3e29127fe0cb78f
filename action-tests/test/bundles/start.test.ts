import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  ACTIONS,
  actionDir,
  node24,
  readActionMetadata,
  runActionBundle,
  type StepResult,
} from '../../src/bundles.js';

/** What a correctly built bundle does with a required input missing: fail the step, clearly. */
function expectCleanFailure(result: StepResult, actionId: string, missingInput: string): void {
  expect(result.stdout).toContain(`::error::${actionId}: `);
  expect(result.stdout).toContain(`Input '${missingInput}' is required but was not supplied.`);
  expect(result.code).toBe(1);
}

describe('committed action bundles start under Node 24', () => {
  it('uses Node 24', async () => {
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync(node24(), ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
  });

  for (const name of ACTIONS) {
    it(`${name}: runs.using is node24 and a missing required input fails the step with a clear message`, async () => {
      const dir = actionDir(name);
      const meta = await readActionMetadata(dir);
      expect(meta.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
      const bundle = await readFile(path.join(dir, 'dist/index.js'), 'utf8');
      expect(bundle).not.toContain('webpackMissingModule');
      const required = Object.entries(meta.inputs).filter(
        ([, i]) => i.required && i.default === undefined,
      );
      expect(required.length).toBeGreaterThan(0);
      const result = await runActionBundle(dir, {});
      for (const [input] of required) expectCleanFailure(result, name, input);
    });
  }

  it('catches a CommonJS mis-build that cannot load @actions/core', async () => {
    // What ncc emits for a CommonJS action: it "succeeds" but requires the ESM-only toolkit.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cjs-misbuild-'));
    await writeFile(path.join(dir, 'package.json'), '{"type":"commonjs"}');
    await writeFile(
      path.join(dir, 'index.js'),
      "const core = require('@actions/core');\ncore.setFailed(\"migrate-to-s3: Input 'bucket' is required\");\n",
    );
    const result = await runActionBundle(
      actionDir('migrate-to-s3'),
      {},
      { main: path.join(dir, 'index.js') },
    );
    expect(() => expectCleanFailure(result, 'migrate-to-s3', 'bucket')).toThrow();
    expect(result.stderr).toContain("Cannot find module '@actions/core'");
  });
});
