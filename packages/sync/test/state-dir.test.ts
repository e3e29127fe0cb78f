import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { S3Target } from '@dify-storage/s3';
import { syncFromBucket, syncToBucket, verifyBucket } from '../src/index.js';
import { SyncState, stateDirProblem } from '../src/state.js';
import { listKeys, newBucket, tempDir, writeFile } from './helpers.js';

/**
 * Issue 14: the sync engine runs as root and keeps its journal and files list in --state-dir. A
 * symlink planted there (or a state directory someone else can write) must never make it read,
 * append to, truncate or replace a file elsewhere: such a file is refused (exit 2, nothing
 * written), never followed.
 */
describe('the state directory is never followed out of', () => {
  const dirs: string[] = [];
  const fresh = (name: string) => {
    const d = tempDir(name);
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const setup = async () => {
    const root = fresh('state-root');
    writeFile(root, 'upload_files/t1/a.txt', 'a');
    writeFile(root, 'upload_files/t1/b.txt', 'b');
    const target: S3Target = await newBucket('state-dir');
    const stateDir = fresh('state');
    const id = SyncState.targetId(new URL(target.endpoint!).origin, target.bucket, '');
    const victim = path.join(fresh('victim'), 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    return { root, target, stateDir, id, victim };
  };

  for (const file of ['files.ndjson', 'files.next.ndjson', 'journal.ndjson', 'dirs.next.ndjson']) {
    it(`a symlink planted as <id>.${file} is refused; its target is neither read nor written`, async () => {
      const { root, target, stateDir, id, victim } = await setup();
      fs.symlinkSync(victim, path.join(stateDir, `${id}.${file}`));
      await expect(syncToBucket({ root, target, stateDir })).rejects.toMatchObject({
        name: 'UnsafePathError',
        message: expect.stringMatching(/state file .*is a symbolic link/),
      });
      expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
      expect((await listKeys(target)).size).toBe(0);
      // verify reads the same files list: refused too.
      if (file === 'files.ndjson') {
        await expect(verifyBucket({ root, target, stateDir })).rejects.toMatchObject({
          name: 'UnsafePathError',
        });
      }
    });
  }

  it('a symlink planted as <id>.files.idx.json (written as the run ends) is refused, its target untouched', async () => {
    const { root, target, stateDir, id, victim } = await setup();
    fs.symlinkSync(victim, path.join(stateDir, `${id}.files.idx.json`));
    await expect(syncToBucket({ root, target, stateDir })).rejects.toMatchObject({
      name: 'UnsafePathError',
      message: expect.stringMatching(/state file .*is a symbolic link/),
    });
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it("a symlink planted as a run of the journal's sort (<id>.journal.run-*.ndjson) is refused, its target untouched", async () => {
    const { root, target, stateDir, id, victim } = await setup();
    // A killed run's journal: the next run sorts it into run files (created O_EXCL, unlinked).
    fs.writeFileSync(
      path.join(stateDir, `${id}.journal.ndjson`),
      '{"t":"done","k":"upload_files/t1/a.txt","s":1,"m":"1","i":"1","md5":"x","sha":"y","e":"x"}\n',
    );
    fs.symlinkSync(victim, path.join(stateDir, `${id}.journal.run-00112233aabbccdd.ndjson`));
    await expect(syncToBucket({ root, target, stateDir })).rejects.toMatchObject({
      name: 'UnsafePathError',
      message: expect.stringMatching(
        /state file .*journal\.run-00112233aabbccdd\.ndjson: it is a symbolic link/,
      ),
    });
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect((await listKeys(target)).size).toBe(0);
  });

  it('a symlink planted as <id>.watermark.json is removed (never followed) and replaced', async () => {
    const { root, target, stateDir, id, victim } = await setup();
    const mark = path.join(stateDir, `${id}.watermark.json`);
    fs.symlinkSync(victim, mark);
    await syncToBucket({ root, target, stateDir });
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(mark).isFile()).toBe(true);
  });

  it('a state directory others can write is refused before anything is written', async () => {
    const { root, target, stateDir } = await setup();
    fs.chmodSync(stateDir, 0o777);
    await expect(syncToBucket({ root, target, stateDir })).rejects.toMatchObject({
      name: 'UnsafePathError',
      message: expect.stringContaining('others can write'),
    });
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });

  it('the copy back and verify read no records from a state directory others can write', async () => {
    // They would trust a planted record's md5 (an object then left out of the copy back).
    const { root, target, stateDir } = await setup();
    await syncToBucket({ root, target, stateDir });
    fs.chmodSync(stateDir, 0o777);
    const into = fresh('state-into');
    const refused = {
      name: 'UnsafePathError',
      message: expect.stringContaining('others can write'),
    };
    const manifest = [{ path: 'upload_files/t1/a.txt', size: 1, sha256: '0'.repeat(64) }];
    await expect(syncFromBucket({ root: into, target, stateDir, manifest })).rejects.toMatchObject(
      refused,
    );
    expect(fs.readdirSync(into)).toEqual([]);
    await expect(verifyBucket({ root, target, stateDir })).rejects.toMatchObject(refused);
    fs.chmodSync(stateDir, 0o700);
    const r = await syncFromBucket({ root: into, target, stateDir, manifest });
    expect(r.counts).toMatchObject({ copied: 2, failed: 0 });
  });

  it('stateDirProblem says why a state directory cannot be trusted, and nothing for a missing one', async () => {
    const { root, target, stateDir } = await setup();
    expect(await stateDirProblem(path.join(stateDir, 'missing'))).toBeUndefined();
    await syncToBucket({ root, target, stateDir });
    expect(await stateDirProblem(stateDir)).toBeUndefined();
    fs.chmodSync(stateDir, 0o770);
    expect(await stateDirProblem(stateDir)).toMatch(
      /^Refusing to use the state directory .*others can write/,
    );
    fs.chmodSync(stateDir, 0o700);
    const file = path.join(stateDir, 'a-file');
    fs.writeFileSync(file, '');
    expect(await stateDirProblem(file)).toMatch(/ENOTDIR|not a directory/);
  });

  it('a normal run still keeps and reuses its state', async () => {
    const { root, target, stateDir } = await setup();
    const first = await syncToBucket({ root, target, stateDir });
    expect(first.counts).toMatchObject({ copied: 2 });
    const second = await syncToBucket({ root, target, stateDir });
    expect(second.counts).toMatchObject({ copied: 0 });
    expect(second.requests.PutObject).toBeUndefined();
  });
});
