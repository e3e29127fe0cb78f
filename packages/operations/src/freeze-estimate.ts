import { errorMessage } from '@dify-storage/action-kit';
import { createdSince } from '@dify-storage/dify';
import type { InstallInspection } from '@dify-storage/kube';
import { lastCompleteCopy } from '@dify-storage/sync';
import type { ConvertConfig } from './convert-config.js';

/**
 * The final delta's cost, from `npm run bench -- --scenario freeze` on a 2-core machine shared
 * with RGW and other work (docs/performance.md): a fixed part (directory scan of a Dify tree,
 * preflight) and a part per changed file (read, hash, PUT, ETag check).
 */
const DELTA_FIXED_S = 2;
const DELTA_PER_CHANGE_S = 0.008;
/** Kubernetes' default terminationGracePeriodSeconds. */
const DEFAULT_GRACE_S = 30;
/** Deployments available with the image on the node and no schema migration. */
const ROLLOUT_S = 60;

/** The api's storage is on one node's disk (hostPath, local PV): directory times can be trusted. */
export function storageIsNodeLocal(i: InstallInspection): boolean {
  const volumes = i.api.volumes ?? [];
  return volumes.length > 0 && volumes.every((v) => v.nodeLocal);
}

function graceSeconds(i: InstallInspection): number {
  const g = [i.api, i.worker].map((w) => {
    const spec = w.statefulSet?.spec as
      { template?: { spec?: { terminationGracePeriodSeconds?: number } } } | undefined;
    return spec?.template?.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S;
  });
  return Math.max(...g);
}

/** How many files Dify wrote since `since`, as the database names them (uploads, new keys). */
async function changesSince(databaseUrl: string, since: Date): Promise<string> {
  const c = await createdSince(databaseUrl, since);
  const n = c.uploads.length + c.tenants.length;
  return n >= 10_000 ? `≥ ${n}` : String(n);
}

/**
 * The plan's prediction of the write-freeze window (pods stop + final delta + rollout), from the
 * state of the last complete copy and the database; the cutover's job summary shows the measured one.
 */
export async function freezeWindowSection(
  config: ConvertConfig,
  i: InstallInspection,
): Promise<string> {
  const grace = graceSeconds(i);
  const since = await lastCompleteCopy(config.stateDir, config.s3).catch(() => undefined);
  const nodeLocal = storageIsNodeLocal(i);
  const lines = ['## Predicted write-freeze window', ''];
  let delta: number | undefined;
  if (!since) {
    lines.push(
      `- Final delta: no complete copy is recorded in ${config.stateDir}: the delta walks the whole tree and checks every file; run migrate-to-s3 (same state-dir) first.`,
    );
  } else if (!nodeLocal) {
    lines.push(
      `- Final delta: the volume is not node-local (NFS or unresolved): the delta walks the whole tree (directory times cannot be trusted there).`,
    );
  } else {
    let changes = 'unknown (no database-url)';
    if (config.databaseUrl) {
      changes = await changesSince(config.databaseUrl, since).catch(
        (e: unknown) => `unknown (database: ${errorMessage(e)})`,
      );
    }
    const n = Number(changes.replace('≥ ', ''));
    delta = DELTA_FIXED_S + (Number.isFinite(n) ? n : 0) * DELTA_PER_CHANGE_S;
    lines.push(
      `- Final delta: lists only the directories changed since the complete copy of ${since.toISOString()}; files written since then by the database: ${changes}; ≈ ${DELTA_FIXED_S} s + ${DELTA_PER_CHANGE_S * 1000} ms per changed file${Number.isFinite(n) ? ` = ${delta.toFixed(0)} s` : ''}.`,
    );
  }
  lines.push(
    `- Pods stop: ≤ ${grace} s (terminationGracePeriodSeconds).`,
    `- Apply and rollout: ≈ ${ROLLOUT_S} s with the image on the node (more with an image pull or a schema migration).`,
  );
  if (delta !== undefined)
    lines.push(`- **Predicted window: ≈ ${Math.ceil(grace + delta + ROLLOUT_S)} s.**`);
  lines.push('', "The cutover's job summary shows the measured window.", '');
  return lines.join('\n');
}
