import {
  startFakeApiServer,
  type FakeApiServer,
} from '../../../../action-tests/src/kube/api-server.js';
import { KubeClient, objectPath, type KubeObject } from '../../src/index.js';
import { dbSecret, difySts, extraConfig, service, sharedConfig } from '../fixtures/install.js';
import { startControllerSim, type ControllerSim } from './sim.js';

export interface TestCluster {
  server: FakeApiServer;
  client: KubeClient;
  sim: ControllerSim;
  close(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const server = await startFakeApiServer({ namespace: 'dify' });
  const client = KubeClient.load({
    kubeconfigPath: server.kubeconfigPath,
    requestTimeoutMs: 10_000,
  });
  const sim = startControllerSim(server);
  return {
    server,
    client,
    sim,
    async close() {
      sim.stop();
      await server.close();
    },
  };
}

/** The install the runbook starts from: two pinned StatefulSets on a hostPath, the shared ConfigMap, Services. */
export async function seedInstall(client: KubeClient, namespace = 'dify'): Promise<void> {
  const objects: KubeObject[] = [
    sharedConfig(),
    extraConfig(),
    dbSecret(),
    service('dify-api'),
    service('dify-worker'),
    difySts('dify-api'),
    difySts('dify-worker'),
  ];
  for (const o of objects) {
    const body = structuredClone(o);
    const meta = body.metadata ?? {};
    for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields'])
      delete meta[k];
    delete body.status;
    meta.namespace = namespace;
    await client.create(objectPath(body.kind as never, namespace), body);
  }
}
