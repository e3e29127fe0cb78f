// Seeds the sync state as a complete copy of a tree would leave it (files list, its index, the
// dirs list and the watermark), reading and hashing every file as the engine does, but without
// uploading: a million uploads take 30–45 min on this machine (issue 17 §3). The engine's own
// state writer and walk are used, so the format is exactly the engine's.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import {
  DirRecorder,
  cutoffNs,
  DEFAULT_DELTA_MARGIN_MS,
} from '../../packages/sync/src/delta-prune.js';
import { compileExcludes } from '../../packages/sync/src/glob.js';
import { SyncState } from '../../packages/sync/src/state.js';
import { walkTree } from '../../packages/sync/src/walk.js';
import type { S3Target } from '@dify-storage/s3';
import { S3Transport } from '@dify-storage/sync';
import { SPEC_FILE } from './dify-tree.js';

/** The state id the engine uses for a target (see SyncState.targetId). */
export function stateIdOf(target: S3Target, prefix = ''): string {
  const t = new S3Transport(target);
  t.close();
  return SyncState.targetId(t.endpointUrl.origin, target.bucket, prefix);
}

export async function seedState(
  root: string,
  target: S3Target,
  stateDir: string,
  log: (s: string) => void,
): Promise<{ files: number; startedAtMs: number }> {
  const exclude = [SPEC_FILE, '.bench-bytes'];
  const state = await SyncState.open(stateDir, stateIdOf(target));
  const startedAtMs = Date.now();
  const recorder = new DirRecorder(state, cutoffNs(startedAtMs, DEFAULT_DELTA_MARGIN_MS));
  const buf = Buffer.allocUnsafe(64 * 1024);
  let files = 0;
  for await (const e of walkTree(root, compileExcludes(exclude))) {
    recorder.see(e);
    if (e.kind !== 'file') continue;
    const fd = fs.openSync(e.abs, 'r');
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    const body = buf.subarray(0, n);
    const md5 = createHash('md5').update(body).digest('hex');
    const slot = state.reserveSlot();
    state.settleSlot(slot, {
      key: e.rel,
      size: Number(e.stat.size),
      mtimeNs: e.stat.mtimeNs.toString(),
      ino: e.stat.ino.toString(),
      md5,
      sha256: createHash('sha256').update(body).digest('hex'),
      etag: md5,
    });
    if (++files % 200_000 === 0) log(`  seeded ${files} records…`);
  }
  recorder.end();
  await state.close(true, { watermark: { startedAtMs, exclude } });
  return { files, startedAtMs };
}
