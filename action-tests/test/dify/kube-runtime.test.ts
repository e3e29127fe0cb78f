import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { difyRuntime } from '../../src/dify/runtime.js';
import {
  startFakeApiServer,
  startSimulator,
  type FakeApiServer,
  type Simulator,
} from '../../src/kube/index.js';
import { createTestDatabase, redisEnv, tempDir, waitFor, type TestDatabase } from './support.js';

/** The emulator as the pod simulator runs it: a StatefulSet pod with a hostPath at /app/api/storage. */
describe('difyRuntime in the pod simulator', () => {
  let db: TestDatabase;
  let node: { dir: string; remove(): Promise<void> };
  let server: FakeApiServer;
  let sim: Simulator;
  const ports = new Map<string, number>();

  beforeAll(async () => {
    db = await createTestDatabase();
    node = await tempDir('dify-node-');
    server = await startFakeApiServer({});
    sim = startSimulator({
      server,
      nodes: { node1: node.dir },
      runtimes: {
        'langgenius/dify-api:*': difyRuntime({ onListen: (c, p) => ports.set(c.podName, p) }),
      },
      timeScale: 0.01,
    });
    server.api.create('configmaps', 'dify', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dify-shared-config' },
      data: {
        STORAGE_TYPE: 'opendal',
        OPENDAL_SCHEME: 'fs',
        OPENDAL_FS_ROOT: 'storage',
        ...db.difyEnv,
        ...(await redisEnv()),
        SECRET_KEY: 'kube-secret',
        DIFY_EMULATOR_ADMIN_TOKEN: 'adm',
      },
    });
    server.api.create('statefulsets', 'dify', {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'dify-api' },
      spec: {
        serviceName: 'dify-api',
        replicas: 1,
        selector: { matchLabels: { app: 'dify-api' } },
        template: {
          metadata: { labels: { app: 'dify-api' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': 'node1' },
            containers: [
              {
                name: 'api',
                image: 'langgenius/dify-api:1.3.0',
                envFrom: [{ configMapRef: { name: 'dify-shared-config' } }],
                volumeMounts: [{ name: 'storage', mountPath: '/app/api/storage' }],
              },
            ],
            volumes: [
              {
                name: 'storage',
                hostPath: { path: '/root/dify/app/api/storage', type: 'DirectoryOrCreate' },
              },
            ],
          },
        },
      },
    });
  });

  afterAll(async () => {
    await sim?.stop();
    await server?.close();
    await db?.drop();
    await node?.remove();
  });

  it('serves uploads that land in the node hostPath directory', async () => {
    const base = await waitFor(
      'dify-api-0 healthy',
      async () => {
        const port = ports.get('dify-api-0');
        return (
          port && (await fetch(`http://127.0.0.1:${port}/health`)).ok && `http://127.0.0.1:${port}`
        );
      },
      30_000,
    );
    const ws = (await (
      await fetch(`${base}/console/api/workspaces`, {
        method: 'POST',
        headers: { 'X-Emulator-Admin-Token': 'adm' },
      })
    ).json()) as { tenant_id: string; app_api_key: string };
    const form = new FormData();
    form.append('file', new Blob(['in the hostPath']), 'note.txt');
    const res = await fetch(`${base}/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ws.app_api_key}` },
      body: form,
    });
    expect(res.status).toBe(201);
    const { rows } = await db.pool.query(`SELECT key FROM upload_files`);
    const hostDir = join(node.dir, 'root/dify/app/api/storage');
    expect(existsSync(join(hostDir, ...rows[0].key.split('/')))).toBe(true);
    expect(readdirSync(join(hostDir, 'privkeys'))).toEqual([ws.tenant_id]);
  });

  it('crash-loops with the reason in pod status when the S3 endpoint is wrong', async () => {
    server.api.patch(
      'configmaps',
      'dify',
      'dify-shared-config',
      'application/merge-patch+json',
      JSON.stringify({
        data: {
          STORAGE_TYPE: 's3',
          S3_ENDPOINT: 'http://127.0.0.1:9',
          S3_BUCKET_NAME: 'difyai',
          S3_ACCESS_KEY: 'ak',
          S3_SECRET_KEY: 'sk',
          S3_REGION: 'us-east-1',
        },
      }),
    );
    server.api.delete('pods', 'dify', 'dify-api-0');
    const status = await waitFor(
      'a terminated api container naming the error',
      async () => {
        const pod = server.api.get('pods', 'dify', 'dify-api-0') as { status?: unknown };
        const text = JSON.stringify(pod.status ?? {});
        return text.includes('EndpointConnectionError') && text;
      },
      30_000,
      200,
    );
    expect(status).toContain('Could not connect to the endpoint URL');
  });
});
