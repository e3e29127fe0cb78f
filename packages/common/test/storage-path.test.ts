import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { isWithin } from '../src/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-within-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('isWithin (a state directory must not be one a Dify pod can write)', () => {
  const storage = path.join(dir, 'mnt/data/storage');
  fs.mkdirSync(storage, { recursive: true });
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  // /data -> /mnt/data, and a link inside the tree pointing out of it.
  fs.symlinkSync(path.join(dir, 'mnt/data'), path.join(dir, 'data'));
  fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(storage, 'link'));

  it('counts the tree itself and what lies below it, as written', () => {
    expect(isWithin(storage, storage)).toBe(true);
    expect(isWithin(`${storage}/`, storage)).toBe(true);
    expect(isWithin(path.join(storage, '.state'), `${storage}/`)).toBe(true);
    expect(isWithin(path.join(storage, '..foo'), storage)).toBe(true);
    expect(isWithin(path.join(storage, 'a/../b'), storage)).toBe(true);
  });

  it('counts a path through a symlinked ancestor, existing or not yet', () => {
    const viaLink = path.join(dir, 'data/storage/.state');
    expect(isWithin(viaLink, storage)).toBe(true);
    expect(isWithin(path.join(storage, 'x'), path.join(dir, 'data/storage'))).toBe(true);
  });

  it('counts a path through a symlink inside the tree (a pod could re-point it)', () => {
    expect(isWithin(path.join(storage, 'link/state'), storage)).toBe(true);
  });

  it('does not count siblings or paths that only share a prefix', () => {
    expect(isWithin(path.join(dir, 'mnt/data/storage-state'), storage)).toBe(false);
    expect(isWithin(path.join(dir, 'mnt/data'), storage)).toBe(false);
    expect(isWithin(path.join(storage, '../storage2'), storage)).toBe(false);
    expect(isWithin(path.join(dir, 'elsewhere/state'), storage)).toBe(false);
  });
});
