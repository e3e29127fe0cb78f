import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { UnsafePathError, writeFileAtomic } from '../src/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-atomic-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic (reports and journals)', () => {
  it('writes mode 0600 through a temporary name, replacing an older report', async () => {
    const file = path.join(dir, 'sub', 'report.json');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, 'two');
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['report.json']);
  });

  it('refuses a symlink planted at the report path; its target is untouched', async () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'keep me');
    const file = path.join(dir, 'planted.json');
    fs.symlinkSync(victim, file);
    await expect(writeFileAtomic(file, 'report')).rejects.toThrow(UnsafePathError);
    await expect(writeFileAtomic(file, 'report')).rejects.toThrow(/is a symbolic link/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
  });
});
