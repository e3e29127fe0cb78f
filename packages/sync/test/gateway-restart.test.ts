import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  startExtraGateway,
  type ExtraGateway,
} from '../../../action-tests/src/proving-ground/extra-gateway.js';
import { DEFAULT_STATE_DIR } from '../../../action-tests/src/proving-ground/index.js';
import { freePort } from '../../../action-tests/src/kube/index.js';
import type { S3Target } from '@dify-storage/s3';
import { syncToBucket, verifyBucket } from '../src/index.js';
import { bytes, newBucket, tempDir, writeFile } from './helpers.js';

describe('radosgw restarted in the middle of a copy', () => {
  let gateway: ExtraGateway;
  beforeAll(async () => {
    gateway = await startExtraGateway(path.join(DEFAULT_STATE_DIR, 'ceph'), await freePort());
  }, 90_000);
  afterAll(async () => gateway?.stop());

  it('retries through the outage, loses nothing, and ends with bucket = tree', async () => {
    const base = await newBucket('sync-restart');
    const target: S3Target = { ...base, endpoint: gateway.endpoint };
    const root = tempDir('restart');
    for (let i = 0; i < 600; i++)
      writeFile(root, `upload_files/t${i % 7}/${i}.bin`, bytes(8192 + (i % 13) * 1024, i));
    let restarted = false;
    const report = await syncToBucket({
      target,
      root,
      concurrency: 8,
      transport: { maxAttempts: 12, backoffCapMs: 4000 },
      progressIntervalMs: 50,
      onProgress: (e) => {
        if (!restarted && e.copied >= 100) {
          restarted = true;
          gateway.kill();
          // The gateway comes back about two seconds later, as after a pod or service restart.
          setTimeout(() => void gateway.start(), 2000);
        }
      },
    });
    expect(restarted).toBe(true);
    expect(report.counts).toMatchObject({ files: 600, failed: 0 });
    expect(report.retries).toBeGreaterThan(0);
    const check = await verifyBucket({ target, root });
    expect(check.counts).toMatchObject({ files: 600, matched: 600, missing: 0, size: 0, hash: 0 });
  }, 120_000);
});
