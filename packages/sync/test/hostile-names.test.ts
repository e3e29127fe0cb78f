import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket, type SyncReport } from '../src/index.js';
import { listKeys, newBucket, tempDir, writeFile } from './helpers.js';

// A name written into the storage tree from inside a Dify pod: a control character that XML 1.0
// cannot carry. Uploaded, it would make every later listing of the bucket unparsable.
const HOSTILE = 'upload_files/t/evil\u0001name.txt';

describe('a file name S3 listings cannot carry', () => {
  let target: S3Target;
  let root: string;
  let stateDir: string;
  let report: SyncReport;

  beforeAll(async () => {
    target = await newBucket('sync-names');
    root = tempDir('names');
    stateDir = tempDir('names-state');
    writeFile(root, 'upload_files/t/ok.txt', 'fine');
    writeFile(root, HOSTILE, 'never uploaded');
    report = await syncToBucket({ root, target, stateDir });
  }, 60_000);
  afterAll(() => {
    for (const d of [root, stateDir]) fs.rmSync(d, { recursive: true, force: true });
  });

  it('is reported as an invalid name, not uploaded, and the bucket still lists', async () => {
    expect(report.unsupported).toContainEqual(
      expect.objectContaining({ path: HOSTILE, reason: 'invalid-name' }),
    );
    expect(report.counts.copied).toBe(1);
    expect([...(await listKeys(target)).keys()]).toEqual(['upload_files/t/ok.txt']);
  });
});
