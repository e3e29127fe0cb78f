import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FakeApiServer } from '../../src/kube/api-server.js';
import { startFakeApiServer } from '../../src/kube/api-server.js';
import { clients, expectStatus, podTemplate, waitFor } from './helpers.js';
import type { Loose } from '../../src/kube/json.js';

const ns = 'dify';

const deployment = (name: string, extra: Record<string, Loose> = {}): k8s.V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: podTemplate(name),
    ...extra,
  },
});

const statefulSet = (name: string, extra: Record<string, Loose> = {}): k8s.V1StatefulSet => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name },
  spec: {
    replicas: 1,
    serviceName: name,
    selector: { matchLabels: { app: name } },
    template: podTemplate(name),
    ...extra,
  },
});

describe('fake API server through @kubernetes/client-node', () => {
  let server: FakeApiServer;
  let c: ReturnType<typeof clients>;

  /** A raw request over plain HTTP (what client-node cannot send: odd content types, unknown fields). */
  const raw = async (
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    token?: string,
  ) => {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? server.token}`, 'content-type': contentType },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      warning: res.headers.get('warning'),
      body: (await res.json()) as Loose,
    };
  };

  beforeAll(async () => {
    server = await startFakeApiServer({ gcDelayMs: 10 });
    c = clients(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('writes a kubeconfig client-node loads, and rejects a wrong token with 401', async () => {
    expect(c.kc.getCurrentCluster()).toMatchObject({ server: server.url, skipTLSVerify: true });
    expect(c.kc.getContextObject(c.kc.getCurrentContext())?.namespace).toBe('dify');
    const list = await c.core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(
      expect.arrayContaining(['default', 'dify']),
    );
    // Plain HTTP works for client-node too, given skipTLSVerify (1.4.0 refuses http otherwise).
    const http = new k8s.KubeConfig();
    http.loadFromOptions({
      clusters: [{ name: 'c', server: server.httpUrl, skipTLSVerify: true }],
      users: [{ name: 'u', token: server.token }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: 'dify' }],
      currentContext: 'x',
    });
    expect(
      (await http.makeApiClient(k8s.CoreV1Api).readNamespace({ name: 'dify' })).status?.phase,
    ).toBe('Active');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    kc.users[0] = { ...kc.users[0]!, token: 'wrong' };
    const err = await kc
      .makeApiClient(k8s.CoreV1Api)
      .listNamespace()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(401);
    const unauth = await raw('GET', '/api/v1/namespaces', undefined, 'application/json', 'nope');
    expect(unauth).toMatchObject({
      status: 401,
      contentType: 'application/json',
      body: { kind: 'Status', reason: 'Unauthorized', code: 401 },
    });
  });

  it('serves discovery so KubernetesObjectApi resolves apps/v1 and coordination.k8s.io/v1', async () => {
    const apps = await raw('GET', '/apis/apps/v1');
    expect(apps.body.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'statefulsets',
          kind: 'StatefulSet',
          namespaced: true,
          shortNames: ['sts'],
          verbs: expect.arrayContaining(['get', 'patch']),
        }),
        expect.objectContaining({
          name: 'statefulsets/scale',
          group: 'autoscaling',
          version: 'v1',
          kind: 'Scale',
        }),
        expect.objectContaining({ name: 'deployments/status', kind: 'Deployment' }),
      ]),
    );
    expect((await raw('GET', '/version')).body.gitVersion).toMatch(/^v1\.32/);
    expect((await raw('GET', '/apis')).body.groups.map((g: Loose) => g.name)).toEqual(
      expect.arrayContaining(['apps', 'coordination.k8s.io']),
    );
    const created = await c.objects.create(statefulSet('via-generic') as k8s.KubernetesObject);
    expect(created.metadata?.uid).toBeTruthy();
    const read = await c.objects.read({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'via-generic', namespace: ns },
    });
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    const lease = await c.coordination.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: 'lock' },
        spec: { holderIdentity: 'me', leaseDurationSeconds: 30 },
      },
    });
    expect(lease.spec?.holderIdentity).toBe('me');
    const gone = await raw('GET', '/apis/nope/v1/things');
    expect(gone).toMatchObject({
      status: 404,
      contentType: 'application/json',
      body: { reason: 'NotFound' },
    });
  });

  it('fills create defaults: uid, monotonic resourceVersion, creationTimestamp, generation, generateName', async () => {
    const a = await c.apps.createNamespacedDeployment({
      namespace: ns,
      body: deployment('defaults-a'),
    });
    const b = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { generateName: 'gen-' }, data: { k: 'v' } },
    });
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(b.metadata!.resourceVersion)).toBeGreaterThan(
      Number(a.metadata!.resourceVersion),
    );
    expect(a.metadata?.generation).toBe(1);
    expect(b.metadata?.generation).toBeUndefined();
    expect(b.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const rawA = await raw('GET', `/apis/apps/v1/namespaces/${ns}/deployments/defaults-a`);
    expect(rawA.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(rawA.body.spec).toMatchObject({
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      strategy: { type: 'RollingUpdate' },
    });
    expect(rawA.body.status).toEqual({});
    // Set resourceVersion, wrong namespace, missing namespace.
    await expectStatus(
      c.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'rv', resourceVersion: '5' } },
      }),
      500,
      'InternalError',
    );
    const mismatch = await expectStatus(
      c.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'x', namespace: 'other' } },
      }),
      400,
      'BadRequest',
    );
    expect(mismatch.message).toBe(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
    const noNs = await expectStatus(
      c.core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'x' } } }),
      404,
      'NotFound',
    );
    expect(noNs.message).toBe('namespaces "missing" not found');
  });

  it('answers 404 NotFound and 409 AlreadyExists with the real messages and details', async () => {
    const nf = await expectStatus(
      c.apps.readNamespacedStatefulSet({ name: 'dify-api', namespace: ns }),
      404,
      'NotFound',
    );
    expect(nf).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'statefulsets.apps "dify-api" not found',
      reason: 'NotFound',
      details: { name: 'dify-api', group: 'apps', kind: 'statefulsets' },
      code: 404,
    });
    const cm = await expectStatus(
      c.core.readNamespacedConfigMap({ name: 'x', namespace: ns }),
      404,
      'NotFound',
    );
    expect(cm.message).toBe('configmaps "x" not found');
    expect(cm.details).toEqual({ name: 'x', kind: 'configmaps' });
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('dup') });
    const ae = await expectStatus(
      c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('dup') }),
      409,
      'AlreadyExists',
    );
    expect(ae.message).toBe('deployments.apps "dup" already exists');
    // Same name, different kind: allowed.
    await c.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('dup') });
  });

  it('PUT: 409 Conflict on a stale resourceVersion, 404 when missing, generation bumps, status ignored', async () => {
    const cm = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'conf' }, data: { a: '1' } },
    });
    const updated = await c.core.replaceNamespacedConfigMap({
      name: 'conf',
      namespace: ns,
      body: { ...cm, data: { a: '2' } },
    });
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(
      Number(cm.metadata!.resourceVersion),
    );
    const stale = await expectStatus(
      c.core.replaceNamespacedConfigMap({
        name: 'conf',
        namespace: ns,
        body: { ...cm, data: { a: '3' } },
      }),
      409,
      'Conflict',
    );
    expect(stale.message).toBe(
      'Operation cannot be fulfilled on configmaps "conf": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(stale.details).toEqual({ name: 'conf', kind: 'configmaps' });
    await expectStatus(
      c.core.replaceNamespacedConfigMap({
        name: 'nope',
        namespace: ns,
        body: { metadata: { name: 'nope' } },
      }),
      404,
      'NotFound',
    );
    // Unconditional update (no resourceVersion) is allowed.
    const { resourceVersion: _rv, ...meta } = updated.metadata!;
    await c.core.replaceNamespacedConfigMap({
      name: 'conf',
      namespace: ns,
      body: { metadata: meta, data: { a: '4' } },
    });

    const d = await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('gen') });
    const labelsOnly = await c.apps.replaceNamespacedDeployment({
      name: 'gen',
      namespace: ns,
      body: { ...d, metadata: { ...d.metadata, labels: { x: 'y' } } },
    });
    expect(labelsOnly.metadata?.generation).toBe(1);
    const annotated = await c.apps.replaceNamespacedDeployment({
      name: 'gen',
      namespace: ns,
      body: { ...labelsOnly, metadata: { ...labelsOnly.metadata, annotations: { a: 'b' } } },
    });
    expect(annotated.metadata?.generation).toBe(2);
    const scaled = await c.apps.replaceNamespacedDeployment({
      name: 'gen',
      namespace: ns,
      body: { ...annotated, spec: { ...annotated.spec!, replicas: 3 }, status: { replicas: 99 } },
    });
    expect(scaled.metadata?.generation).toBe(3);
    expect(scaled.status?.replicas).toBeUndefined();
    // The status subresource writes status only.
    const st = await c.apps.replaceNamespacedDeploymentStatus({
      name: 'gen',
      namespace: ns,
      body: {
        ...scaled,
        spec: { ...scaled.spec!, replicas: 7 },
        status: { replicas: 2, observedGeneration: 3 },
      },
    });
    expect(st.status?.replicas).toBe(2);
    expect(st.spec?.replicas).toBe(3);
    expect(st.metadata?.generation).toBe(3);
  });

  it('PATCH: merge patch via setHeaderOptions, JSON patch (the default) rejects objects, test ops, SMP by key, 415', async () => {
    await c.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: statefulSet('patched', {
        template: podTemplate('patched', {
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        }),
      }),
    });
    const merged = await c.apps.patchNamespacedStatefulSet(
      {
        name: 'patched',
        namespace: ns,
        body: { spec: { replicas: 0 }, metadata: { labels: { l: 'v' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(merged.spec?.replicas).toBe(0);
    expect(merged.metadata?.labels).toEqual({ l: 'v' });
    expect(merged.metadata?.generation).toBe(2);
    const notAList = await expectStatus(
      c.apps.patchNamespacedStatefulSet({
        name: 'patched',
        namespace: ns,
        body: { spec: { replicas: 1 } },
      }),
      400,
      'BadRequest',
    );
    expect(notAList.message).toBe(
      'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    );
    const jp = await c.apps.patchNamespacedStatefulSet({
      name: 'patched',
      namespace: ns,
      body: [
        { op: 'test', path: '/spec/replicas', value: 0 },
        { op: 'replace', path: '/spec/replicas', value: 2 },
      ],
    });
    expect(jp.spec?.replicas).toBe(2);
    const failedTest = await expectStatus(
      c.apps.patchNamespacedStatefulSet({
        name: 'patched',
        namespace: ns,
        body: [{ op: 'test', path: '/spec/replicas', value: 0 }],
      }),
      422,
      'Invalid',
    );
    expect(failedTest.message).toBe(
      'the server rejected our request due to an error in our request',
    );
    const smp = await c.apps.patchNamespacedStatefulSet(
      {
        name: 'patched',
        namespace: ns,
        body: {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    name: 'main',
                    env: [
                      { name: 'B', value: '3' },
                      { name: 'A', $patch: 'delete' },
                    ],
                  },
                ],
              },
            },
          },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(smp.spec?.template.spec?.containers[0]).toMatchObject({
      name: 'main',
      image: 'busybox:1.36',
      env: [{ name: 'B', value: '3' }],
    });
    const unsupported = await raw(
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/patched`,
      { spec: {} },
      'application/xml',
    );
    expect(unsupported).toMatchObject({
      status: 415,
      contentType: 'application/json',
      body: { kind: 'Status', reason: 'UnsupportedMediaType', code: 415 },
    });
    expect(unsupported.body.message).toMatch(
      /^the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json/,
    );
    const rvPrecondition = await raw(
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/patched`,
      { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } },
      'application/merge-patch+json',
    );
    expect(rvPrecondition).toMatchObject({ status: 409, body: { reason: 'Conflict' } });
  });

  it('422 Invalid with causes: dangling volumeMount, selector mismatch, names, deadlines, immutable fields', async () => {
    const dangling = deployment('dify-api', {
      template: podTemplate('dify-api', {
        volumeMounts: [{ name: 'dify-api-storage', mountPath: '/app/api/storage' }],
      }),
    });
    const body = await expectStatus(
      c.apps.createNamespacedDeployment({ namespace: ns, body: dangling }),
      422,
      'Invalid',
    );
    expect(body.message).toBe(
      'Deployment.apps "dify-api" is invalid: spec.template.spec.containers[0].volumeMounts[0].name: Not found: "dify-api-storage"',
    );
    expect(body.details).toEqual({
      name: 'dify-api',
      group: 'apps',
      kind: 'Deployment',
      causes: [
        {
          reason: 'FieldValueNotFound',
          message: 'Not found: "dify-api-storage"',
          field: 'spec.template.spec.containers[0].volumeMounts[0].name',
        },
      ],
    });
    const initMount = deployment('init-mount');
    initMount.spec!.template.spec!.initContainers = [
      { name: 'init', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v' }] },
    ];
    const im = await expectStatus(
      c.apps.createNamespacedDeployment({ namespace: ns, body: initMount }),
      422,
      'Invalid',
    );
    expect(im.details.causes[0].field).toBe(
      'spec.template.spec.initContainers[0].volumeMounts[0].name',
    );

    const mismatch = await expectStatus(
      c.apps.createNamespacedStatefulSet({
        namespace: ns,
        body: statefulSet('mm', { template: podTemplate('other') }),
      }),
      422,
      'Invalid',
    );
    expect(mismatch.message).toBe(
      'StatefulSet.apps "mm" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
    );
    const badName = await expectStatus(
      c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('Bad_Name') }),
      422,
      'Invalid',
    );
    expect(badName.details.causes[0]).toMatchObject({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
    });
    expect(badName.message).toContain('a lowercase RFC 1123 subdomain must consist of');
    const deadline = await expectStatus(
      c.apps.createNamespacedDeployment({
        namespace: ns,
        body: deployment('dl', { minReadySeconds: 10, progressDeadlineSeconds: 10 }),
      }),
      422,
      'Invalid',
    );
    expect(deadline.message).toBe(
      'Deployment.apps "dl" is invalid: spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds',
    );
    const noSelector = deployment('nosel');
    delete (noSelector.spec as Loose).selector;
    const ns422 = await expectStatus(
      c.apps.createNamespacedDeployment({ namespace: ns, body: noSelector }),
      422,
      'Invalid',
    );
    expect(ns422.details.causes).toContainEqual({
      reason: 'FieldValueRequired',
      message: 'Required value',
      field: 'spec.selector',
    });

    // Immutability on update.
    const d = await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('immut') });
    const sel = await expectStatus(
      c.apps.replaceNamespacedDeployment({
        name: 'immut',
        namespace: ns,
        body: {
          ...d,
          spec: {
            ...d.spec!,
            selector: { matchLabels: { app: 'immut', x: 'y' } },
            template: { ...d.spec!.template, metadata: { labels: { app: 'immut', x: 'y' } } },
          },
        },
      }),
      422,
      'Invalid',
    );
    expect(sel.message).toMatch(
      /^Deployment\.apps "immut" is invalid: spec\.selector: Invalid value: v1\.LabelSelector\{.*\}: field is immutable$/,
    );
    const s = await c.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: statefulSet('sts-immut'),
    });
    const stsErr = await expectStatus(
      c.apps.patchNamespacedStatefulSet(
        { name: 'sts-immut', namespace: ns, body: { spec: { serviceName: 'other' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
      422,
      'Invalid',
    );
    expect(stsErr.message).toBe(
      "StatefulSet.apps \"sts-immut\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    );
    // Allowed STS changes go through.
    const ok = await c.apps.patchNamespacedStatefulSet(
      { name: 'sts-immut', namespace: ns, body: { spec: { replicas: 3, minReadySeconds: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(ok.metadata?.resourceVersion).not.toBe(s.metadata?.resourceVersion);
  });

  it('400 strict decoding under fieldValidation=Strict; the default (Warn) drops the field with a warning', async () => {
    const body = {
      ...deployment('strict'),
      spec: { ...deployment('strict').spec, serviceName: 'x' },
    };
    const strict = await raw(
      'POST',
      `/apis/apps/v1/namespaces/${ns}/deployments?fieldValidation=Strict`,
      body,
    );
    expect(strict).toMatchObject({ status: 400, contentType: 'application/json' });
    expect(strict.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
      message:
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.serviceName"',
    });
    const warn = await raw('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, body);
    expect(warn.status).toBe(201);
    expect(warn.warning).toBe('299 - "unknown field \\"spec.serviceName\\""');
    expect(warn.body.spec.serviceName).toBeUndefined();
    const wrongType = await raw('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      ...deployment('typed'),
      spec: { ...deployment('typed').spec, replicas: '2' },
    });
    expect(wrongType).toMatchObject({ status: 400, body: { reason: 'BadRequest' } });
    expect(wrongType.body.message).toContain(
      'cannot unmarshal string into Go struct field spec.replicas of type int32',
    );
  });

  it('serves /scale as autoscaling/v1 Scale (GET, PUT, PATCH) and rejects a stale scale', async () => {
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('scaled') });
    const scale = await c.apps.readNamespacedDeploymentScale({ name: 'scaled', namespace: ns });
    expect(scale).toMatchObject({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      spec: { replicas: 1 },
      status: { replicas: 0, selector: 'app=scaled' },
    });
    const put = await c.apps.replaceNamespacedDeploymentScale({
      name: 'scaled',
      namespace: ns,
      body: { ...scale, spec: { replicas: 4 } },
    });
    expect(put.spec?.replicas).toBe(4);
    await expectStatus(
      c.apps.replaceNamespacedDeploymentScale({
        name: 'scaled',
        namespace: ns,
        body: { ...scale, spec: { replicas: 5 } },
      }),
      409,
      'Conflict',
    );
    const patched = await c.apps.patchNamespacedStatefulSetScale(
      { name: 'dup', namespace: ns, body: { spec: { replicas: 0 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(patched.spec?.replicas).toBe(0);
    expect(
      (await c.apps.readNamespacedDeployment({ name: 'scaled', namespace: ns })).metadata
        ?.generation,
    ).toBe(2);
  });

  it('lists with equality and set-based label selectors and a metadata.name field selector', async () => {
    for (const [name, tier] of [
      ['p1', 'api'],
      ['p2', 'worker'],
      ['p3', 'web'],
    ]) {
      await c.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: name!, labels: { app: 'dify', tier: tier! } },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      });
    }
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (
        await c.core.listNamespacedPod({
          namespace: ns,
          ...(labelSelector ? { labelSelector } : {}),
          ...(fieldSelector ? { fieldSelector } : {}),
        })
      ).items.map((p) => p.metadata?.name);
    expect(await names('app=dify,tier!=web')).toEqual(['p1', 'p2']);
    expect(await names('tier in (api, web)')).toEqual(['p1', 'p3']);
    expect(await names('tier notin (api),app')).toEqual(['p2', 'p3']);
    expect(await names('!tier')).toEqual([]);
    expect(await names(undefined, 'metadata.name=p2')).toEqual(['p2']);
    const list = await raw('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=tier%3Dapi`);
    expect(list.body).toMatchObject({
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: expect.any(String) },
    });
    expect(list.body.items[0].kind).toBeUndefined();
    const all = await raw('GET', '/api/v1/pods');
    expect(all.body.items.length).toBeGreaterThanOrEqual(3);
  });

  it('DELETE with Background, Foreground and Orphan propagation', async () => {
    const mk = async (name: string) => {
      const owner = await c.apps.createNamespacedStatefulSet({
        namespace: ns,
        body: statefulSet(name, { replicas: 0 }),
      });
      const ref = {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name,
        uid: owner.metadata!.uid!,
        controller: true,
        blockOwnerDeletion: true,
      };
      await c.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `${name}-0`, ownerReferences: [ref] },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      });
      return owner;
    };
    const bg = await mk('del-bg');
    const status = await c.apps.deleteNamespacedStatefulSet({
      name: 'del-bg',
      namespace: ns,
      propagationPolicy: 'Background',
    });
    expect(status).toMatchObject({
      kind: 'Status',
      status: 'Success',
      details: { name: 'del-bg', group: 'apps', kind: 'statefulsets', uid: bg.metadata!.uid },
    });
    await expectStatus(
      c.apps.readNamespacedStatefulSet({ name: 'del-bg', namespace: ns }),
      404,
      'NotFound',
    );
    await waitFor('GC of the dependent pod', () => !server.store.get('pods', ns, 'del-bg-0'));

    await mk('del-fg');
    // Hold the dependent with a finalizer so the foreground state is observable.
    await c.core.patchNamespacedPod(
      { name: 'del-fg-0', namespace: ns, body: { metadata: { finalizers: ['test/hold'] } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await c.apps.deleteNamespacedStatefulSet({
      name: 'del-fg',
      namespace: ns,
      body: { propagationPolicy: 'Foreground' },
    });
    const held = await c.apps.readNamespacedStatefulSet({ name: 'del-fg', namespace: ns });
    expect(held.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(held.metadata?.finalizers).toContain('foregroundDeletion');
    const pod = await waitFor(
      'pod marked',
      () => server.store.get('pods', ns, 'del-fg-0')?.metadata.deletionTimestamp,
    );
    expect(pod).toBeTruthy();
    await c.core.patchNamespacedPod({
      name: 'del-fg-0',
      namespace: ns,
      body: [{ op: 'remove', path: '/metadata/finalizers' }],
    });
    await waitFor(
      'owner removed after dependents',
      () => !server.store.get('statefulsets', ns, 'del-fg'),
    );

    await mk('del-or');
    await c.apps.deleteNamespacedStatefulSet({
      name: 'del-or',
      namespace: ns,
      propagationPolicy: 'Orphan',
    });
    await waitFor('orphaned owner gone', () => !server.store.get('statefulsets', ns, 'del-or'));
    const orphan = await c.core.readNamespacedPod({ name: 'del-or-0', namespace: ns });
    expect(orphan.metadata?.ownerReferences).toBeUndefined();

    const bad = await raw('DELETE', `/api/v1/namespaces/${ns}/pods/del-or-0`, {
      propagationPolicy: 'Sometimes',
    });
    expect(bad).toMatchObject({ status: 422, body: { reason: 'Invalid' } });
    const deletedPod = await c.core.deleteNamespacedPod({ name: 'del-or-0', namespace: ns });
    expect(deletedPod.metadata?.name).toBe('del-or-0');
    const svc = await c.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'dify-api' },
        spec: { selector: { app: 'dify-api' }, ports: [{ port: 5001 }] },
      },
    });
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\./);
    const deletedSvc = await c.core.deleteNamespacedService({ name: 'dify-api', namespace: ns });
    expect(deletedSvc.metadata?.name).toBe('dify-api');
    await expectStatus(
      c.apps.deleteNamespacedStatefulSet({ name: 'del-or', namespace: ns }),
      404,
      'NotFound',
    );
  });

  it('streams watch events from a resourceVersion (client-node Watch)', async () => {
    const start = await c.core.listNamespacedConfigMap({ namespace: ns });
    const seen: string[] = [];
    const watch = new k8s.Watch(c.kc);
    const ctl = await watch.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: start.metadata!.resourceVersion! },
      (type, obj: k8s.V1ConfigMap) => seen.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'watched' } },
    });
    await c.core.deleteNamespacedConfigMap({ name: 'watched', namespace: ns });
    await waitFor('events', () => seen.length >= 2);
    ctl.abort();
    expect(seen).toEqual(['ADDED watched', 'DELETED watched']);
  });
});
