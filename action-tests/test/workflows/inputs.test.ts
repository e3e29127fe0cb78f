import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/proving-ground/index.js';

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const ACTIONS = [
  'backup-hostpath',
  'migrate-to-s3',
  'convert-workloads',
  'verify-dify',
  'rollback',
];

/** The inputs each action gets from the reusable workflow, over all its steps. */
function passedByWorkflow(): Map<string, Set<string>> {
  const wf = parse(read('.github/workflows/dify-storage-migration.yml')) as {
    jobs: Record<string, { steps?: Step[] }>;
  };
  const passed = new Map<string, Set<string>>();
  for (const job of Object.values(wf.jobs)) {
    for (const step of job.steps ?? []) {
      const action = /actions\/([a-z0-9-]+)$/.exec(step.uses ?? '')?.[1];
      if (!action) continue;
      const set = passed.get(action) ?? new Set<string>();
      for (const input of Object.keys(step.with ?? {})) set.add(input);
      passed.set(action, set);
    }
  }
  return passed;
}

/** The rows of docs/github.md's "Action inputs the workflow keeps fixed" table. */
function documentedFixed(): Set<string> {
  const doc = read('docs/github.md');
  const section = doc.split('### Action inputs the workflow keeps fixed')[1]!.split('\n## ')[0]!;
  const rows = [...section.matchAll(/^\| `([a-z0-9-]+)` +\| `([a-z0-9-]+)` +\| (.+?) +\|$/gm)];
  return new Set(rows.map((r) => `${r[1]} ${r[2]}`));
}

describe('the reusable workflow exposes what the actions can do', () => {
  it('passes every action input, or docs/github.md says why it keeps it fixed', () => {
    const passed = passedByWorkflow();
    const fixed = documentedFixed();
    const neither: string[] = [];
    const both: string[] = [];
    for (const action of ACTIONS) {
      const meta = parse(read(`actions/${action}/action.yml`)) as {
        inputs: Record<string, unknown>;
      };
      for (const input of Object.keys(meta.inputs)) {
        const isPassed = passed.get(action)?.has(input) === true;
        const isFixed = fixed.has(`${action} ${input}`);
        if (!isPassed && !isFixed) neither.push(`${action} ${input}`);
        if (isPassed && isFixed) both.push(`${action} ${input}`);
      }
    }
    expect(neither).toEqual([]);
    expect(both).toEqual([]);
    // Every documented row names a real input.
    for (const row of fixed) {
      const [action, input] = row.split(' ') as [string, string];
      const meta = parse(read(`actions/${action}/action.yml`)) as {
        inputs: Record<string, unknown>;
      };
      expect(Object.keys(meta.inputs)).toContain(input);
    }
  });

  it('offers the off-node backup copy', () => {
    const wf = parse(read('.github/workflows/dify-storage-migration.yml')) as {
      on: { workflow_call: { inputs: Record<string, { default?: unknown }> } };
    };
    expect(wf.on.workflow_call.inputs['off-node-bucket']).toMatchObject({ default: '' });
    expect(wf.on.workflow_call.inputs['off-node-prefix']).toMatchObject({
      default: 'dify-storage-backups/',
    });
    expect([...passedByWorkflow().get('backup-hostpath')!]).toEqual(
      expect.arrayContaining(['off-node-bucket', 'off-node-prefix', 'access-key-id', 'endpoint']),
    );
  });
});
