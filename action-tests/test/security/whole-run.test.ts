import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { needlesOfAll, scanText, scanTree, type Hit, type Needle } from '../../src/canary.js';
import { CONFIG_MAP } from '../../src/install/fixture.js';
import { rbacPolicy, type Grant, type RequestAttributes } from '../../src/kube/index.js';
import { REPO_ROOT } from '../../src/proving-ground/index.js';
import {
  installS3Client,
  installWorkflowSecrets,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { startFakeGitHub, type FakeGitHub } from '../../src/fake-github.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { parseAllDocuments } from 'yaml';
import { runWorkflow, type JobRun } from '../../src/workflow-runner.js';

/**
 * Issue 14 §2: nothing secret leaves the node; §4/§6: least privilege, recorded and compared. Canaries are planted in every place a real Dify
 * install keeps a secret (ConfigMap values, Secret data, a dockerconfigjson, inline env, container
 * args, the last-applied annotation, URL userinfo, JSON blobs) and every secret input of the
 * workflow (kubeconfig token, S3 keys, database password, Dify keys) is one too. The whole
 * workflow runs (preflight, backup, bulk copy, plan, approved cutover, verify, then the rollback
 * dispatch) with the committed bundles, and every log, step output, job summary, report written
 * to RUNNER_TEMP, uploaded artifact and bucket object is searched for every canary in every
 * shape. Only the node-local state (the backup's raw objects, its HMAC key) may hold them.
 */

const tag = randomBytes(4).toString('hex');
// '+' and '/' make the percent-encoded, JSON-escaped and base64 shapes differ from the raw one.
const canary = (kind: string) => `difyai123456+${kind}/${tag}`;
const PLANTED = {
  celeryBrokerPassword: canary('celery'),
  sqlalchemyPassword: canary('sqlalchemy'),
  jsonBlobPassword: canary('json'),
  configMapPlain: canary('cm'),
  secretData: canary('secret'),
  secretEnvFrom: canary('envfrom'),
  registryPassword: canary('registry'),
  inlineEnv: canary('env'),
  sentryDsnPassword: canary('sentry'),
  argPassword: canary('arg'),
};

function plant(objects: Record<string, unknown>[]): Record<string, unknown>[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && (o.metadata as { name: string }).name === CONFIG_MAP,
  ) as { data: Record<string, string> };
  const d = cm.data;
  // The broker is the real Redis (a password the server does not require is accepted).
  d.CELERY_BROKER_URL = `redis://:${encodeURIComponent(PLANTED.celeryBrokerPassword)}@${d.REDIS_HOST}:${d.REDIS_PORT}/${d.REDIS_DB}`;
  d.SQLALCHEMY_DATABASE_URI = `postgresql://dify:${encodeURIComponent(PLANTED.sqlalchemyPassword)}@db.dify.svc:5432/dify`;
  d.VECTOR_STORE_CONFIG = JSON.stringify({
    url: 'http://weaviate:8080',
    password: PLANTED.jsonBlobPassword,
  });
  d.WEAVIATE_API_KEY = PLANTED.configMapPlain;
  const dockerconfig = JSON.stringify({
    auths: { 'registry.example': { auth: b64(`robot:${PLANTED.registryPassword}`) } },
  });
  const secrets = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dify-app-secrets', namespace: 'dify' },
      type: 'Opaque',
      data: {
        PLUGIN_DAEMON_KEY: b64(PLANTED.secretData),
        INNER_API_KEY: b64(PLANTED.secretEnvFrom),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'registry-auth', namespace: 'dify' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(dockerconfig) },
    },
  ];
  for (const o of objects.filter((x) => x.kind === 'StatefulSet')) {
    const spec = (o.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    spec.imagePullSecrets = [{ name: 'registry-auth' }];
    const c = (spec.containers as Record<string, unknown>[])[0]!;
    c.env = [
      ...(c.env as unknown[]),
      { name: 'CODE_EXECUTION_API_KEY', value: PLANTED.inlineEnv },
      {
        name: 'SENTRY_DSN',
        value: `https://sentry:${encodeURIComponent(PLANTED.sentryDsnPassword)}@sentry.example/1`,
      },
      {
        name: 'PLUGIN_DAEMON_KEY',
        valueFrom: { secretKeyRef: { name: 'dify-app-secrets', key: 'PLUGIN_DAEMON_KEY' } },
      },
    ];
    c.envFrom = [...(c.envFrom as unknown[]), { secretRef: { name: 'dify-app-secrets' } }];
    c.args = ['--log-level=info', `--password=${PLANTED.argPassword}`];
    const meta = o.metadata as Record<string, unknown>;
    // What `kubectl apply` leaves behind: the whole object, env values included.
    meta.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(o) };
  }
  objects.splice(1, 0, ...secrets);
  return objects;
}

describe('the whole workflow with canaries planted and the Roles of docs/examples/rbac.yaml enforced', () => {
  let install: SimulatedInstall;
  let work: string;
  let needles: Needle[];
  const runs: Record<string, Record<string, JobRun>> = {};
  const accesses: (RequestAttributes & { status: number })[] = [];
  const approvals: string[] = [];

  const workflowRun = (mode: string, extra: Record<string, string> = {}) =>
    runWorkflow('dify-storage-migration.yml', {
      inputs: {
        mode,
        namespace: install.namespace,
        'storage-path': install.storagePath,
        'backup-dir': path.join(work, 'node', 'backups'),
        'state-dir': path.join(work, 'node', 'state'),
        bucket: install.bucket,
        // Over TLS with a private CA: the probe pod and the CA ConfigMap are part of the flow.
        endpoint: install.s3.tlsEndpoint,
        'ca-bundle': install.s3.caFile,
        region: install.s3.region,
        'dify-url': install.difyUrl,
        ...extra,
      },
      secrets: installWorkflowSecrets(install, {
        read: kubeconfigOf(READER_TOKEN),
        write: kubeconfigOf(WRITER_TOKEN),
      }),
      env: { NODE_NAME: install.node, HOME: process.env.HOME },
      runnerTemp: path.join(work, 'runner-temp'),
      github: { api_url: gh.apiUrl, repository: 'acme/dify-ops', token: GITHUB_TOKEN },
      approve: (job, environment) => {
        approvals.push(`${job}: ${environment}`);
        return true;
      },
    });
  let kubeconfigText = '';
  let gh: FakeGitHub;
  const GITHUB_TOKEN = `ghs_${randomBytes(12).toString('hex')}`;
  // The two identities of docs/examples/rbac.yaml, each with its own token.
  const READER_TOKEN = randomBytes(16).toString('base64');
  const WRITER_TOKEN = randomBytes(16).toString('base64');
  const READER = 'system:serviceaccount:dify:dify-storage-reader';
  const WRITER = 'system:serviceaccount:dify:dify-storage-migrator';
  const kubeconfigOf = (token: string) =>
    kubeconfigText.replace(/token: .*/, `token: ${JSON.stringify(token)}`);
  let policy: ReturnType<typeof rbacPolicy>;
  let offNodeBucket = '';
  const withS3 = async <T>(f: (s3: S3Client) => Promise<T>): Promise<T> => {
    const s3 = installS3Client(install);
    try {
      return await f(s3);
    } finally {
      s3.destroy();
    }
  };

  beforeAll(async () => {
    gh = await startFakeGitHub();
    work = await mkdtemp(path.join(os.tmpdir(), 'canary-'));
    policy = rbacPolicy(
      parseAllDocuments(
        await readFile(path.join(REPO_ROOT, 'docs/examples/rbac.yaml'), 'utf8'),
      ).map((d) => d.toJSON() as never),
    );
    await mkdir(path.join(work, 'runner-temp'));
    install = await startSimulatedInstall({
      env: testEnv(),
      files: 20,
      timeScale: 0.1,
      editObjects: plant,
      kube: {
        users: { [READER_TOKEN]: READER, [WRITER_TOKEN]: WRITER },
        authorize: (a) => policy.allows(a),
        onAccess: (a, status) => accesses.push({ ...a, status }),
      },
    });
    kubeconfigText = await readFile(install.kubeconfigPath, 'utf8');
    offNodeBucket = `${install.bucket}-off`;
    await withS3((s3) => s3.send(new CreateBucketCommand({ Bucket: offNodeBucket })));
    const dbPassword = decodeURIComponent(new URL(install.databaseUrl).password);
    needles = needlesOfAll({
      ...PLANTED,
      kubeconfigToken: install.server.token,
      readerToken: READER_TOKEN,
      writerToken: WRITER_TOKEN,
      githubToken: GITHUB_TOKEN,
      s3SecretKey: install.s3.secretAccessKey,
      databasePassword: dbPassword,
      difySecretKey: install.secretKey,
      adminToken: install.adminToken,
      appApiKey: install.seeded.tenants[0]!.appApiKey,
      datasetApiKey: install.seeded.tenants[0]!.datasetApiKey,
    });
    runs.migrate = await workflowRun('migrate', { 'off-node-bucket': offNodeBucket });
    runs.rollback = await workflowRun('rollback', {
      'backup-id': runs.migrate.backup!.outputs['backup-id']!,
    });
  }, 900_000);
  afterAll(async () => {
    await gh?.close();
    await install?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the runs did everything they should (so that the sweep saw every stage)', () => {
    const results = (r: Record<string, JobRun>) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.result]));
    // Every job of the migration succeeded; only the requested-rollback job was skipped.
    const { rollback, ...migration } = results(runs.migrate!);
    expect(rollback).toBe('skipped');
    expect(new Set(Object.values(migration))).toEqual(new Set(['success']));
    expect(Object.keys(migration)).toHaveLength(5);
    expect(runs.migrate!.cutover!.outputs.verdict).toBe('pass');
    expect(results(runs.rollback!)).toMatchObject({ rollback: 'success' });
    // Each mutation went through its own gate.
    expect(approvals).toEqual(['cutover: dify-cutover', 'rollback: dify-rollback']);
  });

  it('no log line, step output, job output or job summary carries a canary', () => {
    const hits: Hit[] = [];
    for (const [run, jobs] of Object.entries(runs)) {
      for (const [job, jr] of Object.entries(jobs)) {
        hits.push(...scanText(`${run}/${job} outputs`, JSON.stringify(jr.outputs), needles));
        for (const step of jr.steps) {
          const where = `${run}/${job}/${step.id}`;
          const r = step.result as { stdout: string; stderr: string; summary?: string };
          // The runner consumes ::add-mask:: commands; they never reach the log.
          const log = r.stdout
            .split('\n')
            .filter((l) => !l.startsWith('::add-mask::'))
            .join('\n');
          hits.push(...scanText(`${where} log`, log + r.stderr, needles));
          hits.push(...scanText(`${where} summary`, r.summary ?? '', needles));
          const outputs = (step.result as { outputs?: unknown }).outputs ?? {};
          hits.push(...scanText(`${where} outputs`, JSON.stringify(outputs), needles));
        }
      }
    }
    expect(hits).toEqual([]);
  });

  it('no uploaded artifact and no report in RUNNER_TEMP carries a canary', async () => {
    const hits: Hit[] = [];
    let files = 0;
    const artifacts = Object.values(runs)
      .flatMap((jobs) => Object.values(jobs))
      .flatMap((jr) => jr.steps)
      .filter((s) => s.skipped?.uses.startsWith('actions/upload-artifact@'))
      .flatMap((s) => s.skipped!.with.path!.split('\n'))
      .map((p) => p.trim())
      .filter(Boolean);
    // The backup's record, manifest and sanitized objects, and the cutover plan.
    expect(artifacts.length).toBeGreaterThanOrEqual(4);
    for (const p of [...artifacts, path.join(work, 'runner-temp')]) {
      const r = await scanTree(p, needles);
      hits.push(...r.hits);
      files += r.files;
    }
    expect(files).toBeGreaterThanOrEqual(artifacts.length);
    expect(hits).toEqual([]);
  });

  it('no object in the bucket or in the off-node backup copy carries a canary', async () => {
    const hits: Hit[] = [];
    let objects = 0;
    await withS3(async (s3) => {
      for (const Bucket of [install.bucket, offNodeBucket]) {
        let token: string | undefined;
        do {
          const page = await s3.send(
            new ListObjectsV2Command({ Bucket, ContinuationToken: token }),
          );
          for (const o of page.Contents ?? []) {
            const body = await s3.send(new GetObjectCommand({ Bucket, Key: o.Key }));
            const text = Buffer.from(await body.Body!.transformToByteArray()).toString('latin1');
            hits.push(...scanText(`s3://${Bucket}/${o.Key}`, o.Key! + text, needles));
            objects++;
          }
          token = page.NextContinuationToken;
        } while (token);
      }
    });
    expect(objects).toBeGreaterThan(0);
    expect(hits).toEqual([]);
  });

  it('on the node, only the backup Kubernetes objects keep secrets, in 0600 files', async () => {
    // raw/ (as read) and sanitized/ (as re-created by the rollback) must hold the values.
    const { hits } = await scanTree(path.join(work, 'node'), needles);
    const places = new Set(hits.map((h) => h.where));
    expect(places.size).toBeGreaterThan(0);
    for (const file of places) {
      expect(file).toMatch(/\/b-[^/]+\.kubernetes\/(raw|sanitized)\/[^/]+$/);
      expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
      expect(((await stat(path.dirname(file))).mode & 0o777).toString(8)).toBe('700');
    }
  });

  describe('RBAC: the Roles of docs/examples/rbac.yaml, enforced by the fake API server', () => {
    const show = (a: RequestAttributes & { status?: number }) =>
      `${a.user.split(':').at(-1)} ${a.verb} ${a.apiGroup || 'core'}/${a.resource} ${a.name}`;

    it('every request of the whole flow was granted (no 403), and came from the two identities', () => {
      expect(accesses.length).toBeGreaterThan(20);
      expect(accesses.filter((a) => a.status === 403).map(show)).toEqual([]);
      expect([...new Set(accesses.map((a) => a.user))].sort()).toEqual([WRITER, READER].sort());
    });

    it('the jobs before the approval only read (get, list, watch)', () => {
      const reader = accesses.filter((a) => a.user === READER);
      expect(reader.length).toBeGreaterThan(0);
      expect(reader.filter((a) => !['get', 'list', 'watch'].includes(a.verb)).map(show)).toEqual(
        [],
      );
    });

    // Granted for paths this run does not take, each used by the code named.
    const OTHER_PATHS: Record<string, string> = {
      'dify-storage-migrator update apps/statefulsets dify-api,dify-worker':
        'restoring a StatefulSet that still exists (packages/kube/src/restore.ts)',
      'dify-storage-migrator create core/services ':
        'the rollback re-creates a Service deleted since the backup (restore.ts)',
      'dify-storage-migrator update coordination.k8s.io/leases dify-storage-migration':
        'renewing the lock, taking over an expired one (packages/kube/src/lock.ts)',
      // Storage on a claim: exercised by rbac-shapes.test.ts on the local-PV, NFS and
      // claim-template installs.
      'dify-storage-reader get core/persistentvolumeclaims ': 'claims (rbac-shapes.test.ts)',
      'dify-storage-migrator get core/persistentvolumeclaims ': 'claims (the cutover inspects)',
      'dify-storage-reader get core/persistentvolumes ': 'claims (rbac-shapes.test.ts)',
      'dify-storage-migrator get core/persistentvolumes ': 'claims (the cutover inspects)',
    };
    const grantName = (g: Grant) =>
      `${g.user.split(':').at(-1)} ${g.verb} ${g.apiGroup || 'core'}/${g.resource} ${g.resourceNames.join(',')}`;

    it('nothing granted is unused (every rule, every resourceName)', () => {
      const used = (g: Grant, name?: string) =>
        accesses.some(
          (a) =>
            a.user === g.user &&
            a.apiGroup === g.apiGroup &&
            a.resource === g.resource &&
            a.verb === g.verb &&
            (name === undefined || a.name === name),
        );
      const unused = policy.grants.filter((g) =>
        g.resourceNames.length ? g.resourceNames.some((n) => !used(g, n)) : !used(g),
      );
      expect(unused.map(grantName).sort()).toEqual(Object.keys(OTHER_PATHS).sort());
    });

    it('the writer is scoped with resourceNames wherever Kubernetes allows it', () => {
      // create, list, watch and deletecollection carry no name RBAC could check. What else is
      // unscoped is needed on names that are not fixed.
      const nameless = ['create', 'list', 'watch', 'deletecollection'];
      const unscoped = policy.grants.filter(
        (g) => g.user === WRITER && !nameless.includes(g.verb) && g.resourceNames.length === 0,
      );
      expect(unscoped.map(grantName).sort()).toEqual(
        [
          // The probe pod: dify-storage-probe-<random>; dify-api-0 (from the api-name input).
          'dify-storage-migrator delete core/pods ',
          'dify-storage-migrator get core/pods ',
          // The ConfigMaps and Secrets the workloads (and the namespace's other workloads, e.g. a
          // plugin daemon, packages/kube/src/local-state.ts) reference differ per install.
          'dify-storage-migrator get core/configmaps ',
          'dify-storage-migrator get core/secrets ',
          // Claims and their volumes (names per install; PersistentVolumes are often generated).
          'dify-storage-migrator get core/persistentvolumeclaims ',
          'dify-storage-migrator get core/persistentvolumes ',
        ].sort(),
      );
      const probe = accesses.filter(
        (a) => a.user === WRITER && a.resource === 'pods' && a.verb === 'delete',
      );
      expect(probe.map((a) => a.name)).toEqual([
        expect.stringMatching(/^dify-storage-probe-[0-9a-f]+$/),
      ]);
    });
  });
});
