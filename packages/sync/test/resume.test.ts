import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket, verifyBucket, type SyncToBucketOptions } from '../src/index.js';
import { journalRunLimits } from '../src/journal-runs.js';
import { bytes, newBucket, tempDir, writeFile } from './helpers.js';

const MiB = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

/**
 * Runs a sync in a child process and SIGKILLs it once `shouldKill` says so (or it kills itself).
 * Resolves with the signal it ended with.
 */
function runChild(
  options: SyncToBucketOptions,
  extra: { killAfterPart?: number; stallAfterReads?: number },
  shouldKill: (copied: number) => boolean,
): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', path.join(here, 'fixtures/sync-child.ts')],
      {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { copied?: number };
      if (msg.copied !== undefined && shouldKill(msg.copied)) child.kill('SIGKILL');
    });
    child.stdin!.end(JSON.stringify({ options, ...extra }));
  });
}

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

describe('resume after SIGKILL', () => {
  it('re-uploads at most 55% of the files and ends with bucket = tree', async () => {
    const target: S3Target = await newBucket('sync-resume');
    const root = tempDir('resume');
    const stateDir = tempDir('resume-state');
    cleanup.push(root, stateDir);
    const N = 800;
    for (let i = 0; i < N; i++) writeFile(root, `d${i % 8}/f${i}.bin`, bytes(8192, i));
    const options: SyncToBucketOptions = { root, target, stateDir, concurrency: 4 };
    // Killed once half is copied, with uploads in flight; the child stalls at 75% so that a late
    // kill on a loaded machine still lands before the end.
    const signal = await runChild(
      options,
      { stallAfterReads: 0.75 * N },
      (copied) => copied >= N / 2,
    );
    expect(signal).toBe('SIGKILL');
    // The killed run's journal (≈ 400 uploads) is sorted in runs of 32, as a large one would be.
    const limits = { ...journalRunLimits };
    Object.assign(journalRunLimits, { records: 32, runs: 8 });
    const second = await syncToBucket(options).finally(() =>
      Object.assign(journalRunLimits, limits),
    );
    expect(second.counts.copied).toBeLessThanOrEqual(0.55 * N);
    expect(second.counts.copied + second.counts.skipped).toBe(N);
    // Only uploads near the kill may lack a journal record (then they are read, not re-sent): the
    // ones in flight, and the ones finished in the event-loop turn it landed in, whose records are
    // written at the end of that turn while their workers have already sent the next PUT.
    expect(second.counts.verifiedByRead).toBeLessThanOrEqual(2 * 4);
    const v = await verifyBucket({ root, target, stateDir });
    expect(v.ok).toBe(true);
    expect(v.counts.matched).toBe(N);
  }, 90_000);

  it('continues a multipart upload from its stored parts', async () => {
    const target: S3Target = await newBucket('sync-resume-mpu');
    const root = tempDir('resume-mpu');
    const stateDir = tempDir('resume-mpu-state');
    cleanup.push(root, stateDir);
    writeFile(root, 'big.bin', bytes(40 * MiB, 3));
    const options: SyncToBucketOptions = {
      root,
      target,
      stateDir,
      multipartThreshold: 8 * MiB,
      partSize: 5 * MiB,
      partConcurrency: 1,
    };
    const signal = await runChild(options, { killAfterPart: 4 }, () => false);
    expect(signal).toBe('SIGKILL');
    const second = await syncToBucket(options);
    expect(second.counts.resumedUploads).toBe(1);
    expect(second.requests.UploadPart).toBeLessThanOrEqual(4);
    expect(second.requests.ListParts).toBe(1);
    const v = await verifyBucket({ root, target, readBack: 1, partSize: 5 * MiB });
    expect(v.ok).toBe(true);
  }, 90_000);
});
