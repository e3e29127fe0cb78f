import { describe, expect, it } from '@jest/globals';
import {
  diffJson,
  looksSecret,
  redactChanges,
  renderPlanMarkdown,
  type CutoverPlan,
} from '../src/index.js';

describe('diffJson', () => {
  it('reports added, removed and changed fields with paths; named list items by name', () => {
    const before = {
      spec: {
        serviceName: 'x',
        replicas: 1,
        containers: [{ name: 'api', image: 'a:1', env: [{ name: 'A', value: '1' }] }],
        volumes: [{ name: 'data', hostPath: { path: '/d' } }],
      },
    };
    const after = {
      spec: {
        replicas: 2,
        strategy: { type: 'RollingUpdate' },
        containers: [
          {
            name: 'api',
            image: 'a:1',
            env: [
              { name: 'A', value: '2' },
              { name: 'B', value: '3' },
            ],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      },
    };
    expect(diffJson(before, after)).toEqual([
      { path: 'spec.serviceName', change: 'removed', before: 'x' },
      { path: 'spec.replicas', change: 'changed', before: 1, after: 2 },
      {
        path: 'spec.containers[name=api].env[name=A].value',
        change: 'changed',
        before: '1',
        after: '2',
      },
      {
        path: 'spec.containers[name=api].env[name=B]',
        change: 'added',
        after: { name: 'B', value: '3' },
      },
      {
        path: 'spec.volumes[name=data]',
        change: 'removed',
        before: { name: 'data', hostPath: { path: '/d' } },
      },
      {
        path: 'spec.volumes[name=scratch]',
        change: 'added',
        after: { name: 'scratch', emptyDir: {} },
      },
      { path: 'spec.strategy', change: 'added', after: { type: 'RollingUpdate' } },
    ]);
  });

  it('compares unnamed lists by position and falls back to a whole-list change', () => {
    expect(diffJson({ a: [1, 2] }, { a: [1, 3] })).toEqual([
      { path: 'a[1]', change: 'changed', before: 2, after: 3 },
    ]);
    expect(diffJson({ a: [1] }, { a: [1, 2] })).toEqual([
      { path: 'a', change: 'changed', before: [1], after: [1, 2] },
    ]);
    expect(diffJson({ a: { b: 1 } }, { a: { b: 1 } })).toEqual([]);
  });
});

describe('redaction', () => {
  it('recognises secret-looking names but not schema field names', () => {
    for (const name of [
      'SECRET_KEY',
      'DB_PASSWORD',
      'S3_ACCESS_KEY',
      'REDIS_PASSWORD',
      'api_token',
      'CODE_EXECUTION_API_KEY',
    ]) {
      expect(looksSecret(name)).toBe(true);
    }
    for (const name of [
      'STORAGE_TYPE',
      'S3_BUCKET_NAME',
      'secretKeyRef',
      'key',
      'name',
      'CONSOLE_API_URL',
    ]) {
      expect(looksSecret(name)).toBe(false);
    }
  });

  it('redacts env values and map entries under secret-looking names, keeps references', () => {
    const changes = redactChanges([
      {
        path: 'spec.template.spec.containers[name=api].env[name=SECRET_KEY].value',
        change: 'changed',
        before: 'old',
        after: 'new',
      },
      {
        path: 'spec.template.spec.containers[name=api].env[name=SECRET_KEY]',
        change: 'removed',
        before: { name: 'SECRET_KEY', value: 'old' },
      },
      {
        path: 'spec.template.spec.containers[name=api].env[name=S3_SECRET_KEY]',
        change: 'added',
        after: {
          name: 'S3_SECRET_KEY',
          valueFrom: { secretKeyRef: { name: 's3', key: 'S3_SECRET_KEY' } },
        },
      },
      { path: 'data.DB_PASSWORD', change: 'removed', before: 'hunter2' },
      { path: 'data', change: 'added', after: { DB_PASSWORD: 'hunter2', MODE: 'api' } },
    ]);
    const mark = expect.stringMatching(/^<redacted hmac:[0-9a-f]{12}>$/);
    expect(changes.map((c) => c.before ?? c.after)).toEqual([
      mark,
      { name: 'SECRET_KEY', value: mark },
      { name: 'S3_SECRET_KEY', valueFrom: { secretKeyRef: { name: 's3', key: 'S3_SECRET_KEY' } } },
      mark,
      { DB_PASSWORD: mark, MODE: 'api' },
    ]);
    expect(changes[0]?.after).toEqual(mark);
    // Equal values, equal marks (a reader sees what changed); different values, different marks.
    expect(changes[1]?.before).toEqual({ name: 'SECRET_KEY', value: changes[0]?.before });
    expect(changes[0]?.before).not.toEqual(changes[0]?.after);
  });
});

describe('renderPlanMarkdown', () => {
  const plan: CutoverPlan = {
    namespace: 'dify',
    storageMountPath: '/app/api/storage',
    node: 'node-1',
    settingSources: [],
    findings: [
      {
        code: 'not-pinned',
        severity: 'warning',
        message: 'StatefulSet "dify-worker" is not pinned.',
      },
      { code: 'different-hostpaths', severity: 'blocker', message: 'They differ.' },
    ],
    blockers: [{ code: 'different-hostpaths', severity: 'blocker', message: 'They differ.' }],
    noop: false,
    secret: { name: 'dify-s3-credentials', keys: ['S3_ACCESS_KEY', 'S3_SECRET_KEY'] },
    configMap: {
      name: 'dify-shared-config',
      changes: [
        { key: 'OPENDAL_SCHEME', change: 'removed', before: 'fs' },
        { key: 'S3_ENDPOINT', change: 'added', after: 'http://rgw|x' },
        { key: 'STORAGE_TYPE', change: 'changed', before: 'opendal', after: 's3' },
      ],
      removedCredentialKeys: ['S3_SECRET_KEY'],
    },
    workloads: [
      {
        role: 'api',
        name: 'dify-api',
        action: 'convert',
        replicas: 2,
        changes: [
          { path: 'kind', change: 'changed', before: 'StatefulSet', after: 'Deployment' },
          { path: 'spec.serviceName', change: 'removed', before: 'dify-api' },
          { path: 'spec.strategy', change: 'added', after: { type: 'RollingUpdate' } },
        ],
      },
      { role: 'worker', name: 'dify-worker', action: 'none', changes: [] },
    ],
    storage: [
      {
        workload: 'dify-api',
        volumes: [
          {
            kind: 'local',
            nodeLocal: true,
            path: '/mnt/disks/dify/storage',
            subPath: 'storage',
            claim: 'dify-data',
            persistentVolume: 'dify-local',
            node: 'node-1',
            nodeFrom: 'volume',
          },
        ],
      },
    ],
  };

  it('renders findings, the Secret (key names only), the ConfigMap table and each workload diff', () => {
    expect(renderPlanMarkdown(plan)).toBe(
      [
        '## Cutover plan for namespace `dify`',
        '',
        'Node holding the files: `node-1` (storage path `/app/api/storage`)',
        '',
        '### Storage',
        '',
        '- `dify-api`: claim "dify-data" → local PV "dify-local" /mnt/disks/dify/storage on node node-1 (node from volume)',
        '',
        '**Apply is blocked by 1 finding(s) below.**',
        '',
        '### Findings',
        '',
        '- ⚠️ warning `not-pinned`: StatefulSet "dify-worker" is not pinned.',
        '- ⛔ blocker `different-hostpaths`: They differ.',
        '',
        '### Secret `dify-s3-credentials` (create or update)',
        '',
        'Keys: `S3_ACCESS_KEY`, `S3_SECRET_KEY` (values are never shown).',
        '',
        '### ConfigMap `dify-shared-config`',
        '',
        '| key | change | before | after |',
        '|---|---|---|---|',
        '| `OPENDAL_SCHEME` | removed | `fs` |  |',
        '| `S3_ENDPOINT` | added |  | `http://rgw\\|x` |',
        '| `STORAGE_TYPE` | changed | `opendal` | `s3` |',
        '',
        'Credentials found in the ConfigMap and removed: S3_SECRET_KEY (they come from the Secret).',
        '',
        '### StatefulSet `dify-api` → Deployment `dify-api` (2 replica(s))',
        '',
        '```diff',
        '- kind: "StatefulSet"',
        '+ kind: "Deployment"',
        '- spec.serviceName: "dify-api"',
        '+ spec.strategy: {"type":"RollingUpdate"}',
        '```',
        '',
      ].join('\n'),
    );
  });

  it('says when there is nothing to do', () => {
    const md = renderPlanMarkdown({
      ...plan,
      noop: true,
      blockers: [],
      findings: [],
      configMap: undefined,
      workloads: [],
    });
    expect(md).toContain('**Already converted: nothing to change.**');
    expect(md).not.toContain('### Secret');
  });
});
