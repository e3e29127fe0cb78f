import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const run = promisify(execFile);

describe('the CLI started as the README says', () => {
  it('from a checkout without a build: node --conditions=source --import tsx packages/cli/src/main.ts', async () => {
    const r = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'packages/cli/src/main.ts', 'backup', '--help'],
      { cwd: ROOT, timeout: 120_000 },
    );
    expect(r.stdout).toContain('--backup-dir <value>');
    expect(r.stdout).toContain('examples:');
  }, 130_000);

  it('exactly as the README writes it: npx dify-storage (dist/ when built, else the source)', async () => {
    const r = await run('npx', ['dify-storage', 'backup', '--help'], {
      cwd: ROOT,
      timeout: 120_000,
    });
    expect(r.stdout).toContain('--backup-dir <value>');
    const bad = await run('npx', ['dify-storage', 'migrate', '--bucket'], {
      cwd: ROOT,
      timeout: 120_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--bucket needs a value'),
    });
  }, 250_000);

  it('on a Node older than 22.19: one line saying what to do, exit 2, no stack trace', async () => {
    const oldNode =
      'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.20.2"});' +
      'Object.defineProperty(process,"version",{value:"v20.20.2"})';
    const r = await run(
      process.execPath,
      [
        '--import',
        oldNode,
        '--conditions=source',
        '--import',
        'tsx',
        'packages/cli/src/main.ts',
        '--help',
      ],
      { cwd: ROOT, timeout: 120_000 },
    ).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(r).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        'dify-storage needs Node >= 22.19 (this is v20.20.2): install Node 24 (.nvmrc), e.g. nvm install 24.\n',
    });
  }, 130_000);
});
