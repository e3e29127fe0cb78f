/** Steps the install-shape suites share: the objects a rollback must give back, verify-dify. */
import path from 'node:path';
import { expect } from '@jest/globals';
import { readVerifyConfig, runVerify } from '@dify-storage/operations';
import type { SimulatedInstall } from '../../src/install/simulated-install.js';
import { log, noMask } from '../rollback/support.js';

/** The objects a rollback must give back, without server-set fields. */
export function originalObjects(install: SimulatedInstall): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const store = install.server.store;
  const kinds = ['statefulsets', 'configmaps', 'secrets', 'persistentvolumeclaims', 'services'];
  for (const r of kinds) {
    for (const o of store.list(r, install.namespace)) {
      const { spec, data } = o as { spec?: unknown; data?: unknown };
      out[`${r}/${o.metadata.name}`] = r === 'configmaps' || r === 'secrets' ? data : spec;
    }
  }
  for (const o of store.list('deployments', install.namespace))
    out[`deployments/${o.metadata.name}`] = (o as { spec?: { replicas?: number } }).spec?.replicas;
  for (const o of store.list('cronjobs', install.namespace)) {
    const { spec, metadata } = o as { spec?: unknown; metadata: { annotations?: object } };
    // An empty map is omitted by the real server (omitempty).
    const annotations = Object.keys(metadata.annotations ?? {}).length ? metadata.annotations : {};
    out[`cronjobs/${o.metadata.name}`] = { spec, annotations };
  }
  return out;
}

/** verify-dify against the backup's manifest, with tenant 0's keys: every stage passes. */
export async function expectVerifyPasses(
  i: SimulatedInstall,
  read: (extra: Record<string, string>) => (name: string) => string,
  manifestPath: string,
): Promise<void> {
  const tenant = i.seeded.tenants[0]!;
  const verified = await runVerify(
    readVerifyConfig(
      read({
        'manifest-path': manifestPath,
        'read-back': 'sample',
        'app-api-key': tenant.appApiKey,
        'dataset-api-key': tenant.datasetApiKey,
        'indexing-timeout': '6',
        'report-path': path.join(i.workDir, 'reports', 'verify.json'),
      }),
      {},
      noMask,
    ),
    log,
  );
  const failed = verified.stages.filter((s) => s.status === 'fail');
  expect(failed.map((s) => `${s.stage}: ${s.summary}`)).toEqual([]);
  expect(verified.verdict).toBe('pass');
}
