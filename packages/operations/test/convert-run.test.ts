import { rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { classifyError } from '@dify-storage/action-kit';
import type { S3Credentials } from '@dify-storage/s3';
import {
  acquireLock,
  labelSelectorString,
  objectPath,
  pollUntil,
  rolloutStatus,
  scaleWorkload,
  type ConfigMap,
  type KubeObject,
  type Pod,
  type Secret,
  type Workload,
} from '@dify-storage/kube';
import { syncToBucket } from '@dify-storage/sync';
import { testEnv } from '../../../action-tests/src/proving-ground/index.js';
import { ConvertFailedError, lockHolderOf, runConvert, type ConvertResult } from '../src/index.js';
import {
  NS,
  memoryLogger,
  resourceVersions,
  startFixture,
  type ConvertFixture,
} from './convert-support.js';

const FAST = { pollIntervalMs: 20 };
const SECRETS_IN_FIXTURE = ['sk-super-secret-value', 'hunter2', 'pg-secret'];

let fx: ConvertFixture;
beforeEach(async () => {
  fx = await startFixture();
});
afterEach(async () => {
  await fx?.close();
});

async function failure(promise: Promise<unknown>): Promise<ConvertFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConvertFailedError);
  return error as ConvertFailedError;
}

function actions(r: { journal: { action: string; kind: string; name: string }[] }): string[] {
  return r.journal.map((e) => `${e.action} ${e.kind}/${e.name}`);
}

describe('plan', () => {
  it('changes nothing and names the ConfigMap keys and the Secret keys, without secret values', async () => {
    const before = await resourceVersions(fx.client);
    const log = memoryLogger();
    let mutations = 0;
    const result = await runConvert(fx.config({ phase: 'plan' }), log, {
      ...FAST,
      onMutation: () => mutations++,
    });
    expect(await resourceVersions(fx.client)).toEqual(before);
    expect(mutations).toBe(0);
    expect(result.mutationStarted).toBe(false);
    expect(result.journal).toEqual([]);
    expect(result.noop).toBe(false);
    expect(result.message).toContain('nothing was changed');

    const md = await readFile(result.planPath, 'utf8');
    expect(md).toBe(result.planMarkdown);
    for (const line of [
      '| `OPENDAL_SCHEME` | removed | `fs` |',
      '| `OPENDAL_FS_ROOT` | removed |',
      '| `STORAGE_LOCAL_PATH` | removed |',
      '| `STORAGE_TYPE` | changed | `opendal` | `s3` |',
      `| \`S3_ENDPOINT\` | added |  | \`${fx.config().s3.endpoint}\` |`,
      `| \`S3_BUCKET_NAME\` | added |  | \`${fx.bucket}\` |`,
      '| `S3_ADDRESS_STYLE` | added |  | `path` |',
      '### Secret `dify-s3-credentials` (create or update)',
      'Keys: `S3_ACCESS_KEY`, `S3_SECRET_KEY` (values are never shown).',
      '### StatefulSet `dify-api` → Deployment `dify-api` (1 replica(s))',
    ]) {
      expect(md).toContain(line);
    }
    const plan = JSON.parse(await readFile(result.planJsonPath, 'utf8')) as ConvertResult['plan'];
    expect(plan.secret).toEqual({
      name: 'dify-s3-credentials',
      keys: ['S3_ACCESS_KEY', 'S3_SECRET_KEY'],
    });
    const { secretKey: secretAccessKey } = fx.config().difyKeys!;
    for (const text of [md, JSON.stringify(plan), log.lines.join('\n')]) {
      for (const secret of [...SECRETS_IN_FIXTURE, secretAccessKey])
        expect(text).not.toContain(secret);
    }
  });

  it('predicts the write-freeze window from the last complete copy in the state directory', async () => {
    const none = await runConvert(fx.config({ phase: 'plan' }), memoryLogger(), FAST);
    expect(none.planMarkdown).toContain('## Predicted write-freeze window');
    expect(none.planMarkdown).toContain('no complete copy is recorded');
    await writeFile(path.join(fx.storageDir, 'a.txt'), 'a');
    await syncToBucket({ root: fx.storageDir, target: fx.config().s3, stateDir: fx.stateDir });
    const after = await runConvert(fx.config({ phase: 'plan' }), memoryLogger(), FAST);
    expect(after.planMarkdown).toMatch(
      /lists only the directories changed since the complete copy of .*; files written since then by the database: unknown \(no database-url\)/,
    );
    expect(after.planMarkdown).toMatch(/Pods stop: ≤ \d+ s/);
  });

  it('checks the bucket with credentials from a provider, and blocks without static keys for Dify', async () => {
    const s3 = fx.config().s3;
    const keys = s3.credentials as S3Credentials;
    let asked = 0;
    const provider = async () => {
      asked++;
      return keys;
    };
    const result = await runConvert(
      fx.config({ phase: 'plan', s3: { ...s3, credentials: provider } }),
      memoryLogger(),
      FAST,
    );
    expect(asked).toBeGreaterThan(0);
    const codes = result.plan.findings.map((f) => `${f.severity}:${f.code}`);
    expect(codes).toContain('info:bucket-ok');
    expect(result.plan.blockers.map((b) => b.code)).toEqual(['dify-keys-missing']);
    expect(result.planMarkdown).toContain(
      "Dify needs static S3 keys for its Secret and the suite's own credentials come from the AWS credential chain: set 'dify-access-key-id' and 'dify-secret-access-key'",
    );
    // Given separately, they are what the plan takes (no blocker).
    const given = await runConvert(
      fx.config({
        phase: 'plan',
        s3: { ...s3, credentials: provider },
        difyKeys: { accessKey: keys.accessKeyId, secretKey: keys.secretAccessKey },
      }),
      memoryLogger(),
      FAST,
    );
    expect(given.plan.blockers).toEqual([]);
  });

  it('explains an unexpected shape (api and worker on different nodes, different directories)', async () => {
    await fx.client.updateWithRetry<Workload>(
      objectPath('StatefulSet', NS, 'dify-worker'),
      (sts) => {
        const spec = sts.spec!.template!.spec!;
        spec.nodeSelector = { 'kubernetes.io/hostname': 'node-2' };
        spec.volumes![0]!.hostPath!.path = '/data/other';
        return sts;
      },
    );
    await fx.client.delete(objectPath('Pod', NS, 'dify-worker-0'));
    // Until its replacement is on node-2 (so no pod is replaced under the comparison below).
    await pollUntil(
      async () => {
        const pod = await fx.client.getOrNull<Pod>(objectPath('Pod', NS, 'dify-worker-0'));
        return pod?.spec?.nodeName === 'node-2' ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 20 },
      () => new Error('dify-worker-0 did not come back on node-2'),
    );
    const result = await runConvert(fx.config({ phase: 'plan' }), memoryLogger(), FAST);
    expect(result.message).toMatch(
      /2 finding\(s\) block the cutover: different-hostpaths, different-nodes/,
    );
    expect(result.planMarkdown).toContain('dify-api runs on node-1 but dify-worker on node-2');
    expect(result.planMarkdown).toContain('**Apply is blocked by 2 finding(s) below.**');

    // A cutover refuses it before changing anything.
    const before = await resourceVersions(fx.client);
    const error = await failure(
      runConvert(fx.config({ phase: 'cutover', runId: 'run-blocked' }), memoryLogger(), FAST),
    );
    expect(error.message).toContain('is not in a shape the cutover can handle');
    expect(error.message).toContain('different-nodes');
    expect(error.message).toContain('Nothing was changed in the cluster.');
    expect(error.progress.mutationStarted).toBe(false);
    expect(classifyError(error).outcome).not.toBe('internal');
    const after = await resourceVersions(fx.client);
    expect(after).toEqual(before); // the lock came and went: no Lease left either
  });
});

describe('cutover', () => {
  it('freezes, copies the delta, converts the install, and a re-run is a no-op', async () => {
    const key = 'upload_files/tenant-1/written-before-cutover.txt';
    await mkdir(path.join(fx.storageDir, path.dirname(key)), { recursive: true });
    await writeFile(path.join(fx.storageDir, key), 'written during the bulk copy window\n');

    const log = memoryLogger();
    const mutationsSeen: number[] = [];
    const result = await runConvert(fx.config({ phase: 'cutover' }), log, {
      ...FAST,
      onMutation: () => mutationsSeen.push(Date.now()),
    });
    expect(result.noop).toBe(false);
    expect(result.mutationStarted).toBe(true);
    expect(mutationsSeen).toHaveLength(1);
    expect(actions(result)).toEqual([
      'annotated StatefulSet/dify-api',
      'scaled StatefulSet/dify-api',
      'annotated StatefulSet/dify-worker',
      'scaled StatefulSet/dify-worker',
      'created Secret/dify-s3-credentials',
      'updated ConfigMap/dify-shared-config',
      'created Deployment/dify-api',
      'created Deployment/dify-worker',
      'deleted StatefulSet/dify-api',
      'deleted StatefulSet/dify-worker',
    ]);
    expect(result.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });
    expect(result.freezeSeconds).toBeGreaterThan(0);
    expect(result.freezeSeconds).toBeLessThan(30);
    expect(result.delta).toMatchObject({ ok: true, files: 1, copied: 1, failed: 0 });

    // The delta ran: the file is in the bucket.
    const object = await fx.s3.send(new GetObjectCommand({ Bucket: fx.bucket, Key: key }));
    expect(await object.Body!.transformToString()).toBe('written during the bulk copy window\n');

    // The install is converted.
    const { client } = fx;
    for (const name of ['dify-api', 'dify-worker']) {
      expect(await client.getOrNull(objectPath('StatefulSet', NS, name))).toBeUndefined();
      const d = await client.get<Workload>(objectPath('Deployment', NS, name));
      expect(rolloutStatus({ ...d, kind: 'Deployment' }).done).toBe(true);
      expect(d.spec?.replicas).toBe(1);
      expect(JSON.stringify(d.spec)).not.toContain('hostPath');
      // The Service still selects the new pods.
      const svc = await client.get<KubeObject>(objectPath('Service', NS, name));
      const selector = (svc.spec as { selector: Record<string, string> }).selector;
      const pods = await client.list<Pod>('Pod', NS, {
        labelSelector: labelSelectorString(selector),
      });
      expect(pods).toHaveLength(1);
      const owners = pods[0]?.metadata?.ownerReferences as { kind: string }[] | undefined;
      expect(owners?.[0]?.kind).toBe('Deployment');
    }
    const cm = await client.get<ConfigMap>(objectPath('ConfigMap', NS, 'dify-shared-config'));
    expect(cm.data).toMatchObject({
      STORAGE_TYPE: 's3',
      S3_ENDPOINT: fx.config().s3.endpoint,
      S3_BUCKET_NAME: fx.bucket,
      S3_ADDRESS_STYLE: 'path',
      S3_USE_AWS_MANAGED_IAM: 'false',
      CONSOLE_API_URL: 'http://dify.example',
    });
    expect(Object.keys(cm.data ?? {}).filter((k) => k.startsWith('OPENDAL_'))).toEqual([]);
    expect(cm.data).not.toHaveProperty('S3_SECRET_KEY');
    const secret = await client.get<Secret>(objectPath('Secret', NS, 'dify-s3-credentials'));
    const { accessKey: accessKeyId, secretKey: secretAccessKey } = fx.config().difyKeys!;
    expect(Buffer.from(secret.data!.S3_ACCESS_KEY!, 'base64').toString()).toBe(accessKeyId);
    expect(Buffer.from(secret.data!.S3_SECRET_KEY!, 'base64').toString()).toBe(secretAccessKey);
    // The lock is released.
    expect(
      await client.getOrNull(objectPath('Lease', NS, 'dify-storage-migration')),
    ).toBeUndefined();

    // The changes file holds the run, without secret values.
    const changes = await readFile(result.changesPath, 'utf8');
    const history = JSON.parse(changes) as {
      runs: { runId: string; outcome: string; changes: unknown[] }[];
    };
    expect(history.runs).toHaveLength(1);
    expect(history.runs[0]).toMatchObject({ runId: 'run-1', outcome: 'ok' });
    expect(history.runs[0]?.changes).toHaveLength(10);
    for (const text of [changes, log.lines.join('\n'), result.planMarkdown]) {
      expect(text).not.toContain(secretAccessKey);
    }

    // Re-run: a no-op that says so.
    const before = await resourceVersions(client);
    const rerun = await runConvert(
      fx.config({ phase: 'cutover', runId: 'run-2' }),
      memoryLogger(),
      FAST,
    );
    expect(rerun.noop).toBe(true);
    expect(rerun.mutationStarted).toBe(false);
    expect(rerun.journal).toEqual([]);
    expect(rerun.message).toContain('already converted to S3: nothing to change (no-op)');
    expect(rerun.planMarkdown).toContain('**Already converted: nothing to change.**');
    expect(await resourceVersions(client)).toEqual(before);
    const again = await runConvert(
      fx.config({ phase: 'apply', runId: 'run-3' }),
      memoryLogger(),
      FAST,
    );
    expect(again.noop).toBe(true);
  });

  it('runs as separate freeze and apply phases, measuring the freeze window across them', async () => {
    const freeze = await runConvert(fx.config({ phase: 'freeze' }), memoryLogger(), FAST);
    expect(freeze.mutationStarted).toBe(true);
    expect(freeze.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });
    expect(await fx.client.list<Pod>('Pod', NS)).toEqual([]);
    const sts = await fx.client.get<Workload>(objectPath('StatefulSet', NS, 'dify-api'));
    expect(sts.spec?.replicas).toBe(0);
    // A second freeze changes nothing.
    const refreeze = await runConvert(fx.config({ phase: 'freeze' }), memoryLogger(), FAST);
    expect(refreeze.noop).toBe(true);
    expect(refreeze.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });

    await new Promise((r) => setTimeout(r, 300));
    const apply = await runConvert(
      fx.config({ phase: 'apply', runId: 'run-2' }),
      memoryLogger(),
      FAST,
    );
    expect(apply.noop).toBe(false);
    expect(actions(apply)).toContain('created Deployment/dify-api');
    expect(apply.freezeSeconds).toBeGreaterThanOrEqual(0.3);
    const history = JSON.parse(await readFile(apply.changesPath, 'utf8')) as {
      runs: { phase: string; outcome: string }[];
    };
    expect(history.runs.map((r) => `${r.phase}:${r.outcome}`)).toEqual([
      'freeze:ok',
      'freeze:noop',
      'apply:ok',
    ]);
  });

  it('refuses apply without credentials, and cutover with an unusable bucket, before any change', async () => {
    const before = await resourceVersions(fx.client);
    // The suite's own access through a provider (the AWS chain): no static keys for Dify.
    const s3 = fx.config().s3;
    const keys = s3.credentials;
    const config = fx.config({
      phase: 'apply',
      s3: { ...s3, credentials: async () => keys as S3Credentials },
    });
    const noCreds = await failure(runConvert(config, memoryLogger(), FAST));
    expect(noCreds.message).toContain(
      "Dify needs static S3 keys for its Secret and the suite's own credentials come from the AWS credential chain: set 'dify-access-key-id' and 'dify-secret-access-key' (Dify 1.3.0 has no session-token setting, and its IAM mode ignores S3_ENDPOINT).",
    );
    expect(classifyError(noCreds).exitCode).toBe(2);

    const missing = fx.config({ phase: 'cutover' });
    missing.s3 = { ...missing.s3, bucket: `${fx.bucket}-absent` };
    const noBucket = await failure(runConvert(missing, memoryLogger(), FAST));
    expect(noBucket.message).toMatch(
      /bucket "convert-[0-9a-f]+-absent" is not usable from here: .*checked before the freeze/s,
    );
    expect(noBucket.progress.mutationStarted).toBe(false);
    expect(classifyError(noBucket).exitCode).toBe(2);

    // An endpoint whose certificate the runner cannot trust: could not check, nothing frozen.
    const untrusted = fx.config({ phase: 'cutover' });
    untrusted.s3 = { ...untrusted.s3, endpoint: testEnv().DSM_S3_TLS_ENDPOINT };
    const tls = await failure(runConvert(untrusted, memoryLogger(), FAST));
    expect(tls.message).toContain(`the TLS certificate of ${untrusted.s3.endpoint} is not trusted`);
    expect(classifyError(tls).exitCode).toBe(4);
    expect(await resourceVersions(fx.client)).toEqual(before);
  });
});

describe('a failed delta copy', () => {
  it('applies nothing, keeps api and worker frozen, and reports the mutation', async () => {
    let mutations = 0;
    const error = await failure(
      runConvert(fx.config({ phase: 'cutover' }), memoryLogger(), {
        ...FAST,
        // The storage directory vanishes after the freeze began: the delta copy cannot run.
        onMutation: () => {
          mutations++;
          rmSync(fx.storageDir, { recursive: true, force: true });
        },
      }),
    );
    expect(error.message).toContain('the final delta copy failed, so nothing was applied');
    expect(error.progress.mutationStarted).toBe(true);
    expect(mutations).toBe(1);
    expect(actions(error.progress)).toEqual([
      'annotated StatefulSet/dify-api',
      'scaled StatefulSet/dify-api',
      'annotated StatefulSet/dify-worker',
      'scaled StatefulSet/dify-worker',
    ]);
    expect(classifyError(error).outcome).not.toBe('internal');
    expect(
      await fx.client.getOrNull(objectPath('Secret', NS, 'dify-s3-credentials')),
    ).toBeUndefined();
    expect(await fx.client.getOrNull(objectPath('Deployment', NS, 'dify-api'))).toBeUndefined();
    const sts = await fx.client.get<Workload>(objectPath('StatefulSet', NS, 'dify-api'));
    expect(sts.spec?.replicas).toBe(0);
  });
});

describe('lock', () => {
  it('refuses a run while another holds the lock, naming the holder', async () => {
    await acquireLock(fx.client, { namespace: NS, holder: 'github-run-999-1', ttlSeconds: 300 });
    const before = await resourceVersions(fx.client);
    const error = await failure(runConvert(fx.config({ phase: 'cutover' }), memoryLogger(), FAST));
    expect(error.message).toMatch(/held by "github-run-999-1" since \d{4}-\d\d-\d\dT/);
    expect(lockHolderOf(error)?.holder).toBe('github-run-999-1');
    expect(error.progress.mutationStarted).toBe(false);
    expect(await resourceVersions(fx.client)).toEqual(before);
  });

  it('lets one of two concurrent runs in and refuses the other', async () => {
    const results = await Promise.allSettled([
      runConvert(fx.config({ phase: 'freeze', runId: 'run-a' }), memoryLogger(), FAST),
      runConvert(fx.config({ phase: 'freeze', runId: 'run-b' }), memoryLogger(), FAST),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<ConvertResult>).value.runId;
    expect(lockHolderOf(lost[0]!.reason)?.holder).toBe(winner);
  });
});

describe('a failing rollout', () => {
  it('fails with the progress deadline and the pod waiting reason, mutation started, StatefulSets kept', async () => {
    fx.cluster.sim.failing.add('dify-api');
    let mutations = 0;
    const error = await failure(
      runConvert(fx.config({ phase: 'cutover' }), memoryLogger(), {
        ...FAST,
        onMutation: () => mutations++,
      }),
    );
    expect(error.message).toContain('deployment "dify-api" exceeded its progress deadline');
    expect(error.message).toContain('reason ProgressDeadlineExceeded');
    expect(error.message).toContain('CrashLoopBackOff');
    expect(error.message).toContain('Changes made before the failure');
    expect(error.progress.mutationStarted).toBe(true);
    expect(mutations).toBe(1);
    expect(actions(error.progress)).toContain('created Deployment/dify-api');
    expect(actions(error.progress)).not.toContain('deleted StatefulSet/dify-api');
    expect(error.progress.delta?.ok).toBe(true);
    expect(classifyError(error).outcome).not.toBe('internal');
    expect(await fx.client.getOrNull(objectPath('StatefulSet', NS, 'dify-api'))).toBeDefined();
    expect(
      await fx.client.getOrNull(objectPath('Lease', NS, 'dify-storage-migration')),
    ).toBeUndefined();
    const history = JSON.parse(await readFile(error.progress.changesPath, 'utf8')) as {
      runs: { outcome: string; error: string; mutationStarted: boolean; changes: unknown[] }[];
    };
    expect(history.runs[0]).toMatchObject({ outcome: 'failed', mutationStarted: true });
    expect(history.runs[0]?.changes.length).toBe(error.progress.journal.length);

    // Someone scaled the StatefulSet up again meanwhile: the re-run freezes it once more, waiting
    // for its own pod only (the Deployment's pods carry the same labels).
    await scaleWorkload(fx.client, NS, { kind: 'StatefulSet', name: 'dify-api' }, 1);
    await pollUntil(
      async () => (await fx.client.getOrNull(objectPath('Pod', NS, 'dify-api-0'))) ?? undefined,
      { timeoutMs: 5000, intervalMs: 20 },
      () => new Error('dify-api-0 did not start'),
    );
    // Fixed: the re-run converges.
    fx.cluster.sim.failing.clear();
    await fx.client.updateWithRetry<Workload>(objectPath('Deployment', NS, 'dify-api'), (d) => {
      d.metadata = { ...d.metadata, annotations: { ...d.metadata?.annotations, bump: '1' } };
      return d;
    });
    const rerun = await runConvert(
      fx.config({ phase: 'cutover', runId: 'run-2' }),
      memoryLogger(),
      FAST,
    );
    expect(actions(rerun)).toEqual([
      'annotated StatefulSet/dify-api',
      'scaled StatefulSet/dify-api',
      'deleted StatefulSet/dify-api',
      'deleted StatefulSet/dify-worker',
    ]);
    expect(rerun.replicas).toEqual({ 'dify-api': 1, 'dify-worker': 1 });
    expect(await fx.client.getOrNull(objectPath('Pod', NS, 'dify-api-0'))).toBeUndefined();
  });
});
