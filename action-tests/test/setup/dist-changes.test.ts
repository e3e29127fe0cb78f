import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
// @ts-expect-error: a plain .mjs script without types
import { distChanges } from '../../../scripts/dist-changes.mjs';

describe('check-dist sees a bundle that differs from the committed one', () => {
  let repo: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });

  beforeAll(async () => {
    repo = await mkdtemp(path.join(tmpdir(), 'dist-changes-'));
    await mkdir(path.join(repo, 'actions/a/dist'), { recursive: true });
    await writeFile(path.join(repo, 'actions/a/dist/index.js'), 'old\n');
    git('init', '-q');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'bundle');
  });
  afterAll(() => rm(repo, { recursive: true, force: true }));

  it('is empty when the bundles match, and names a changed or new file', async () => {
    expect(distChanges(repo)).toBe('');
    await writeFile(path.join(repo, 'actions/a/dist/index.js'), 'new\n');
    await writeFile(path.join(repo, 'actions/a/dist/extra.js'), 'x\n');
    const changes = distChanges(repo) as string;
    expect(changes).toContain('actions/a/dist/index.js');
    expect(changes).toContain('actions/a/dist/extra.js');
  });
});
