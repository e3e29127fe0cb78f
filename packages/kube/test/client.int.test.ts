import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiError, KubeClient, objectPath, type ConfigMap } from '../src/index.js';
import { startCluster, type TestCluster } from './support/cluster.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.close();
});

describe('KubeClient against the fake API server', () => {
  it('loads from a kubeconfig string as well as a path, and takes the context namespace', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(cluster.server.kubeconfigPath, 'utf8');
    const client = KubeClient.load({ kubeconfig: text });
    expect(client.defaultNamespace).toBe('dify');
    expect(() => KubeClient.load({ kubeconfig: text, context: 'nope' })).toThrow(
      'kubeconfig has no context "nope"',
    );
  });

  it('reads raw JSON: timestamps stay strings, data intact', async () => {
    const { client } = cluster;
    await client.create(objectPath('ConfigMap', 'dify'), {
      metadata: { name: 'raw-read' },
      data: { a: '1' },
    });
    const cm = await client.get<ConfigMap>(objectPath('ConfigMap', 'dify', 'raw-read'));
    expect(typeof cm.metadata?.creationTimestamp).toBe('string');
    expect(cm.data).toEqual({ a: '1' });
  });

  it('maps errors to KubeApiError with code, reason and the server message', async () => {
    const error = await cluster.client
      .get(objectPath('ConfigMap', 'dify', 'missing'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({
      code: 404,
      reason: 'NotFound',
      serverMessage: 'configmaps "missing" not found',
    });
    expect(
      await cluster.client.getOrNull(objectPath('ConfigMap', 'dify', 'missing')),
    ).toBeUndefined();
    const dup = await cluster.client
      .create(objectPath('ConfigMap', 'dify'), { metadata: { name: 'raw-read' } })
      .catch((e: unknown) => e);
    expect(dup).toMatchObject({ code: 409, reason: 'AlreadyExists' });
  });

  it('surfaces every cause of a 422', async () => {
    const error = (await cluster.client
      .create(objectPath('Deployment', 'dify'), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bad' },
        spec: {
          selector: { matchLabels: { app: 'bad' } },
          template: {
            metadata: { labels: { app: 'bad' } },
            spec: {
              containers: [
                { name: 'c', image: 'x', volumeMounts: [{ name: 'gone', mountPath: '/data' }] },
              ],
            },
          },
        },
      })
      .catch((e: unknown) => e)) as KubeApiError;
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error.code).toBe(422);
    expect(error.reason).toBe('Invalid');
    expect(error.causes.some((c) => c.field?.includes('volumeMounts[0].name'))).toBe(true);
    expect(error.message).toContain('volumeMounts[0].name');
  });

  it('rejects unknown fields (fieldValidation=Strict)', async () => {
    const error = await cluster.client
      .create(objectPath('ConfigMap', 'dify'), { metadata: { name: 'strict' }, data: {}, bogus: 1 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 400 });
    expect((error as Error).message).toContain('bogus');
  });

  it('merge-patches with the merge-patch content type', async () => {
    const { client } = cluster;
    const patched = await client.patch<ConfigMap>(objectPath('ConfigMap', 'dify', 'raw-read'), {
      data: { b: '2', a: null },
    });
    expect(patched.data).toEqual({ b: '2' });
  });

  it('retries a read-modify-write on 409 Conflict and applies the mutation to the fresh object', async () => {
    const { client } = cluster;
    const path = objectPath('ConfigMap', 'dify', 'raw-read');
    let calls = 0;
    const { object, changed } = await client.updateWithRetry<ConfigMap>(path, async (cm) => {
      calls++;
      if (calls === 1) {
        // Someone else writes between our read and our write: our PUT carries a stale resourceVersion.
        await client.patch(path, { data: { concurrent: 'yes' } });
      }
      return { ...cm, data: { ...cm.data, mine: String(calls) } };
    });
    expect(changed).toBe(true);
    expect(calls).toBe(2);
    expect(object.data).toEqual({ b: '2', concurrent: 'yes', mine: '2' });
  });

  it('gives up after the bounded number of conflicts', async () => {
    const { client } = cluster;
    const path = objectPath('ConfigMap', 'dify', 'raw-read');
    let n = 0;
    const error = await client
      .updateWithRetry<ConfigMap>(
        path,
        async (cm) => {
          await client.patch(path, { data: { n: String(++n) } });
          return { ...cm, data: { x: 'y' } };
        },
        { attempts: 2 },
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(n).toBe(2);
  });

  it('reports an unreachable server clearly', async () => {
    const client = KubeClient.load({
      kubeconfig: [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    });
    await expect(client.request('GET', '/api/v1/namespaces')).rejects.toThrow(
      'cannot reach the API server http://127.0.0.1:9',
    );
  });
});
