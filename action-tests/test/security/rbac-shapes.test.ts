/**
 * Issue 14 §6: the reader Role of docs/examples/rbac.yaml on the other install shapes (local PV,
 * NFS subPath, claim templates, other workloads): the plan's reads are granted on each, with the
 * fake API server enforcing the Roles (the PersistentVolumeClaim and PersistentVolume reads
 * included, which the hostPath install of whole-run.test.ts never makes).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { readConvertConfig, runConvert } from '@dify-storage/operations';
import { parseAllDocuments } from 'yaml';
import type { InstallShape } from '../../src/install/fixture.js';
import {
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { rbacPolicy, type RequestAttributes } from '../../src/kube/index.js';
import { REPO_ROOT, testEnv } from '../../src/proving-ground/index.js';
import { inputValues, log, noMask, reader } from '../rollback/support.js';

const READER = 'system:serviceaccount:dify:dify-storage-reader';

describe('the reader Role on every install shape', () => {
  let install: SimulatedInstall | undefined;
  afterEach(async () => {
    await install?.stop();
    install = undefined;
  });

  const shapes: InstallShape[] = ['local-pv', 'nfs-subpath', 'claim-templates', 'other-workloads'];
  for (const shape of shapes) {
    it(`plans ${shape} with the reader's kubeconfig: every read granted`, async () => {
      const policy = rbacPolicy(
        parseAllDocuments(
          await readFile(path.join(REPO_ROOT, 'docs/examples/rbac.yaml'), 'utf8'),
        ).map((d) => d.toJSON() as never),
      );
      const token = randomBytes(16).toString('hex');
      const accesses: (RequestAttributes & { status: number })[] = [];
      install = await startSimulatedInstall({
        env: testEnv(),
        files: 10,
        timeScale: 0.1,
        shape,
        kube: {
          users: { [token]: READER },
          authorize: (a) => policy.allows(a),
          onAccess: (a, status) => accesses.push({ ...a, status }),
        },
      });
      const kubeconfig = (await readFile(install.kubeconfigPath, 'utf8')).replace(
        /token: .*/,
        `token: ${token}`,
      );
      const read = reader(inputValues(install, { phase: 'plan', kubeconfig }));
      const plan = await runConvert(readConvertConfig(read, {}, noMask), log);
      expect(plan.plan.blockers).toEqual([]);
      const show = (a: RequestAttributes) =>
        `${a.verb} ${a.apiGroup || 'core'}/${a.resource} ${a.name}`;
      expect(accesses.filter((a) => a.status === 403).map(show)).toEqual([]);
      expect(accesses.length).toBeGreaterThan(5);
      // The grants whole-run.test.ts cannot see used on the hostPath install are used here.
      const used = new Set(accesses.map((a) => `${a.verb} ${a.resource}`));
      if (shape !== 'other-workloads') {
        expect(used).toContain('get persistentvolumeclaims');
        expect(used).toContain('get persistentvolumes');
      }
    }, 120_000);
  }
});
