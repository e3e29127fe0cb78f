import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { AtomicFileWriter, UnsafePathError, writeFileAtomic } from '../src/index.js';

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

describe('AtomicFileWriter (a list written as it grows)', () => {
  it('leaves the older file in place until commit, then replaces it whole', async () => {
    const file = path.join(dir, 'list.json');
    fs.writeFileSync(file, 'older');
    const out = await AtomicFileWriter.open(file);
    // More than one 64 KiB block, in small pieces.
    for (let i = 0; i < 10_000; i++) out.write(`line ${i}\n`);
    out.write(Buffer.from('end\n'));
    expect(fs.readFileSync(file, 'utf8')).toBe('older');
    await out.commit();
    const text = fs.readFileSync(file, 'utf8');
    expect(text.startsWith('line 0\nline 1\n')).toBe(true);
    expect(text.endsWith('line 9999\nend\n')).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('list.json'))).toEqual(['list.json']);
  });

  it('abort removes what was written and keeps the older file', async () => {
    const file = path.join(dir, 'aborted.json');
    fs.writeFileSync(file, 'older');
    const out = await AtomicFileWriter.open(file);
    out.write('x'.repeat(100_000));
    await out.abort();
    expect(fs.readFileSync(file, 'utf8')).toBe('older');
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('aborted.json'))).toEqual([
      'aborted.json',
    ]);
  });

  it('refuses a symlink planted at its path before writing anything', async () => {
    const victim = path.join(dir, 'victim-2');
    fs.writeFileSync(victim, 'keep me');
    const file = path.join(dir, 'planted-list.json');
    fs.symlinkSync(victim, file);
    await expect(AtomicFileWriter.open(file)).rejects.toThrow(/is a symbolic link/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
  });

  it('a write that fails (a file size limit here) leaves no temporary file, at write or at commit', () => {
    const into = fs.mkdtempSync(path.join(dir, 'efbig-'));
    // In a child whose files may not exceed 32 KiB (ulimit -f): writes fail with EFBIG.
    const code = `
      import { AtomicFileWriter, writeFileAtomic } from '@dify-storage/common';
      const into = ${JSON.stringify(into)};
      const out = [];
      await writeFileAtomic(into + '/a.json', 'x'.repeat(40000)).catch((e) => out.push(e.code));
      const w = await AtomicFileWriter.open(into + '/b.json');
      w.write('y'.repeat(40000)); // kept until commit (under 64 KiB)
      await w.commit().catch((e) => out.push(e.code));
      const l = await AtomicFileWriter.open(into + '/c.json');
      try { l.write('z'.repeat(70000)); } catch (e) { out.push(e.code); }
      try { l.write('more'); } catch (e) { out.push('again:' + e.code); }
      await l.commit().catch((e) => out.push('commit:' + e.code));
      console.log(JSON.stringify(out));`;
    const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    const child = spawnSync(
      'bash',
      [
        '-c',
        'ulimit -f 32 && exec "$0" --conditions=source --import tsx --input-type=module -e "$1"',
        process.execPath,
        code,
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
    );
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual([
      'EFBIG',
      'EFBIG',
      'EFBIG',
      'again:EFBIG',
      'commit:EFBIG',
    ]);
    expect(fs.readdirSync(into)).toEqual([]);
  });
});
