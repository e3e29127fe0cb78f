import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  assertDataIdentity,
  checkDataIdentity,
  DataIdentityError,
  normalizeFsPath,
  type StorageReference,
} from '../src/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'identity-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ref(key: string, size: number | null): StorageReference {
  return {
    kind: 'upload_files',
    id: key,
    tenantId: 't',
    key,
    fsPath: normalizeFsPath(key),
    size,
    rowSize: size,
    sha3: size === null ? null : 'h',
    createdAt: null,
  };
}

async function* from(refs: StorageReference[]): AsyncGenerator<StorageReference> {
  yield* refs;
}

/** A tree with `present` of `total` uploads (size 10 each) under `dir`. */
function tree(dir: string, total: number, present: number): StorageReference[] {
  const refs: StorageReference[] = [];
  for (let i = 0; i < total; i++) {
    const key = `upload_files/t/${i}.bin`;
    if (i < present) {
      mkdirSync(path.join(dir, 'upload_files/t'), { recursive: true });
      writeFileSync(path.join(dir, key), Buffer.alloc(10));
    }
    refs.push(ref(key, 10));
  }
  return refs;
}

describe('checkDataIdentity', () => {
  it('passes at 95 % and refuses below with the figures', async () => {
    const dir = path.join(root, 'a');
    const refs = tree(dir, 100, 95);
    const ok = await checkDataIdentity({
      databaseUrl: '',
      storageRoot: dir,
      references: from(refs),
    });
    expect(ok).toMatchObject({ ok: true, eligible: 100, checked: 100, matched: 95 });
    // One present file with a different size drops it to 94 %.
    writeFileSync(path.join(dir, 'upload_files/t/0.bin'), Buffer.alloc(11));
    const bad = checkDataIdentity({ databaseUrl: '', storageRoot: dir, references: from(refs) });
    await expect(bad).resolves.toMatchObject({
      ok: false,
      matched: 94,
      wrongSize: ['upload_files/t/0.bin (10 → 11 bytes)'],
    });
    await expect(
      assertDataIdentity({ databaseUrl: '', storageRoot: dir, references: from(refs) }),
    ).rejects.toThrow(
      new RegExp(
        `${dir} is not the storage the Dify pods see: of 100 sampled uploads \\(of 100 with a recorded size\\) only 94 are there with that size \\(94.0 %, 95 % needed\\); 5 missing, 1 with another size`,
      ),
    );
  });

  it('takes up to two missing uploads of a small install for broken references when the newest is there', async () => {
    // Ten API uploads a day apart; a few files were deleted by hand long before the migration.
    const dir = path.join(root, 'small');
    const dated = tree(dir, 10, 10).map((r, i) => ({
      ...r,
      createdAt: new Date(Date.UTC(2025, 0, 1 + i)),
    }));
    const run = () =>
      checkDataIdentity({ databaseUrl: '', storageRoot: dir, references: from(dated) });
    rmSync(path.join(dir, 'upload_files/t/2.bin'));
    const one = await run();
    expect(one).toMatchObject({ ok: true, checked: 10, matched: 9 });
    expect(one.message).toContain(
      '1 missing ("upload_files/t/2.bin") taken for references broken before the migration',
    );
    expect(one.message).toContain('the newest upload ("upload_files/t/9.bin", 2025-01-10');
    rmSync(path.join(dir, 'upload_files/t/5.bin'));
    await expect(run()).resolves.toMatchObject({ ok: true, matched: 8 });
    // Three missing: more than broken rows explain; refused with the figures.
    rmSync(path.join(dir, 'upload_files/t/7.bin'));
    const three = await run();
    expect(three.ok).toBe(false);
    expect(three.message).toContain('files deleted before the migration are listed by');
    writeFileSync(path.join(dir, 'upload_files/t/7.bin'), Buffer.alloc(10));
    // The newest upload missing is what a stale copy or another node's directory looks like.
    rmSync(path.join(dir, 'upload_files/t/9.bin'));
    await expect(run()).resolves.toMatchObject({ ok: false, matched: 7 });
    writeFileSync(path.join(dir, 'upload_files/t/9.bin'), Buffer.alloc(10));
    // A file of another size is never taken for a broken reference.
    writeFileSync(path.join(dir, 'upload_files/t/0.bin'), Buffer.alloc(11));
    await expect(run()).resolves.toMatchObject({ ok: false, matched: 7 });
    // A directory with none of the files is refused whatever their dates.
    const empty = path.join(root, 'small-empty');
    mkdirSync(empty);
    await expect(
      checkDataIdentity({ databaseUrl: '', storageRoot: empty, references: from(dated) }),
    ).resolves.toMatchObject({ ok: false, matched: 0 });
  });

  it('samples at most 200 of many rows, ignores rows whose size is not bytes, and refuses a wrong directory', async () => {
    const dir = path.join(root, 'b');
    const refs = [...tree(dir, 500, 500), ref('upload_files/t/text.txt', null)];
    const r = await checkDataIdentity({
      databaseUrl: '',
      storageRoot: dir,
      references: from(refs),
    });
    expect(r).toMatchObject({ ok: true, eligible: 500, checked: 200, matched: 200 });
    const wrong = await assertDataIdentity({
      databaseUrl: '',
      storageRoot: path.join(root, 'empty'),
      references: from(refs),
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(DataIdentityError);
    expect((wrong as DataIdentityError).outcome).toBe('blocked');
    expect((wrong as DataIdentityError).result).toMatchObject({ checked: 200, matched: 0 });
  });

  it('checks every row of a small install, and does not follow symlinks', async () => {
    const dir = path.join(root, 'c');
    const refs = tree(dir, 10, 10);
    expect(
      (await checkDataIdentity({ databaseUrl: '', storageRoot: dir, references: from(refs) }))
        .checked,
    ).toBe(10);
    rmSync(path.join(dir, 'upload_files/t/3.bin'));
    symlinkSync(path.join(dir, 'upload_files/t/4.bin'), path.join(dir, 'upload_files/t/3.bin'));
    const r = await checkDataIdentity({
      databaseUrl: '',
      storageRoot: dir,
      references: from(refs),
    });
    expect(r).toMatchObject({
      ok: false,
      checked: 10,
      matched: 9,
      missing: ['upload_files/t/3.bin'],
    });
  });

  it('finds keys at their OpenDAL path (leading slash and double slashes normalized)', async () => {
    const dir = path.join(root, 'd');
    tree(dir, 1, 1);
    const r = await checkDataIdentity({
      databaseUrl: '',
      storageRoot: dir,
      references: from([ref('/upload_files//t/0.bin', 10)]),
    });
    expect(r).toMatchObject({ ok: true, matched: 1 });
  });
});
