import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { KubeInputs, S3Inputs } from '@dify-storage/action-kit';
import {
  BackupInputs,
  ConvertInputs,
  MigrateInputs,
  RollbackInputs,
  VerifyInputs,
} from '@dify-storage/operations';
import { parse } from 'yaml';
import { COMMANDS } from '../src/commands.js';
import { commandFlags, commandHelp } from '../src/main.js';
import { cli } from './support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
type Inputs = Record<string, { description: string; default?: string; required?: boolean }>;
const inputsOf = (action: string) =>
  (
    parse(readFileSync(path.join(ROOT, 'actions', action, 'action.yml'), 'utf8')) as {
      inputs: Inputs;
    }
  ).inputs;

/** The inputs each action's code reads (what the CLI passes on). */
const READS: Record<string, string[]> = {
  // Its S3 inputs address the off-node copy, whose bucket is off-node-bucket.
  'backup-hostpath': [
    ...Object.values(BackupInputs),
    ...Object.values(KubeInputs),
    ...Object.values(S3Inputs).filter((i) => i !== S3Inputs.Bucket),
  ],
  'migrate-to-s3': [...Object.values(MigrateInputs), ...Object.values(S3Inputs)],
  'convert-workloads': [
    ...Object.values(ConvertInputs),
    ...Object.values(KubeInputs),
    ...Object.values(S3Inputs),
  ],
  'verify-dify': [
    ...Object.values(VerifyInputs),
    ...Object.values(KubeInputs),
    ...Object.values(S3Inputs),
  ],
  rollback: [
    ...Object.values(RollbackInputs),
    ...Object.values(KubeInputs),
    ...Object.values(S3Inputs),
  ],
};

describe('dify-storage <command> --help', () => {
  it('the inputs the code reads and those action.yml declares do not drift apart', () => {
    for (const [action, reads] of Object.entries(READS)) {
      expect([...new Set(reads)].sort()).toEqual(Object.keys(inputsOf(action)).sort());
    }
    const actions = Object.values(COMMANDS).flatMap((c) => (c.action ? [c.action] : []));
    expect([...new Set(actions)].sort()).toEqual(Object.keys(READS).sort());
  });

  for (const [name, command] of Object.entries(COMMANDS)) {
    it(`${name}: every flag with its description, default and whether required; examples`, () => {
      const help = commandHelp(name);
      const declared = command.action ? Object.entries(inputsOf(command.action)) : [];
      for (const [input, meta] of declared) {
        if (input in (command.fixed ?? {})) {
          expect(help).not.toMatch(new RegExp(`--${input}\\b`));
          continue;
        }
        const entry = help
          .split('\n')
          .findIndex(
            (l) =>
              new RegExp(`^  --${input}( |$)`).test(l) ||
              l.startsWith(`  (env DIFY_STORAGE_${input.toUpperCase().replace(/-/g, '_')})`),
          );
        expect(entry).toBeGreaterThan(-1);
        const text = help.split('\n')[entry + 1]!;
        expect(text).toContain(meta.description.replace(/\s+/g, ' ').trim());
        if (meta.default !== undefined && String(meta.default) !== '')
          expect(text).toContain(`default: ${meta.default}`);
        if (meta.required && meta.default === undefined) expect(text).toContain('required');
      }
      for (const flag of command.flags ?? []) {
        expect(help).toContain(flag.description);
      }
      expect(help).toContain('--json');
      const examples = help.split('examples:\n')[1]!.split('\n').filter(Boolean);
      expect(examples.length).toBeGreaterThanOrEqual(2);
      for (const e of examples) expect(e).toContain(`dify-storage ${name}`);
    });
  }

  it('shows the allowed values the code enforces', () => {
    expect(commandHelp('migrate')).toContain('one of: bulk, delta, verify');
    expect(commandHelp('backup')).toContain('a whole number from 1 to 19');
    expect(commandHelp('convert')).toContain('one of: plan, freeze, apply, cutover');
  });
});

describe('dify-storage <command> --json', () => {
  it('prints only JSON on stdout, for every command, also when it refuses the input', async () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      const required = commandFlags(command).filter((f) => f.required);
      if (required.length === 0) continue; // status and the like: their JSON runs against a cluster
      const r = await cli([name, '--json']);
      expect({ name, code: r.code }).toEqual({ name, code: 2 });
      expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 2 });
      expect(r.stderr).toContain(`Input '${required[0]!.name}' is required`);
    }
  });
});
