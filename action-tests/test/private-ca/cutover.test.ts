/**
 * A whole simulated install moved to the proving ground's TLS endpoint, whose certificate comes
 * from a private CA that nothing trusts by default: the copy, the probe pod before the freeze,
 * the cutover that mounts the CA into api and worker (the emulator's boto3 stand-in only starts
 * because of it), verify over TLS, and the rollback that removes what the cutover added.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  readBackupConfig,
  readConvertConfig,
  readMigrateConfig,
  readRollbackConfig,
  readVerifyConfig,
  runBackup,
  runConvert,
  runMigrate,
  runRollback,
  runVerify,
  type Logger,
} from '@dify-storage/operations';
import {
  installInputs,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { generateTestCertificates } from '../../src/proving-ground/tls.js';

const noMask = () => undefined;
const lines: string[] = [];
const log: Logger = { info: (l) => lines.push(l), warn: (l) => lines.push(`warning: ${l}`) };

interface Obj {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & { replicas?: number };
  data?: Record<string, string>;
}

describe('cutover to an S3 endpoint with a private CA', () => {
  const env = testEnv();
  let install: SimulatedInstall;
  let backupId: string;
  /** A TLS server whose certificate comes from another private CA: what pods might reach instead. */
  let foreign: { url: string; close(): Promise<void> };

  const inputs = (extra: Record<string, string>) =>
    installInputs(install, {
      endpoint: env.DSM_S3_TLS_ENDPOINT,
      'ca-bundle': env.DSM_S3_CA_FILE,
      'rollout-timeout': '60',
      ...extra,
    });
  const list = (resource: string): Obj[] =>
    install.server.api.list(resource as never, install.namespace).items as Obj[];
  const caConfigMap = () =>
    list('configmaps').find((c) => c.metadata?.name === 'dify-s3-ca-bundle');

  beforeAll(async () => {
    install = await startSimulatedInstall({ env, files: 20, timeScale: 0.05 });
    const certDir = await mkdtemp(path.join(os.tmpdir(), 'foreign-ca-'));
    const certs = await generateTestCertificates(certDir);
    const server = tls.createServer(
      { key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) },
      (socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    foreign = {
      url: `https://127.0.0.1:${port}`,
      close: async () => {
        await new Promise((r) => server.close(r));
        await rm(certDir, { recursive: true, force: true });
      },
    };
    const backup = await runBackup(readBackupConfig(inputs({}), {}, noMask), log);
    backupId = backup.backup!.record.id;
    const migrated = await runMigrate(readMigrateConfig(inputs({ mode: 'bulk' }), {}, noMask), log);
    if (migrated.mode === 'verify' || !migrated.report.ok) throw new Error('bulk copy failed');
  }, 120_000);

  afterAll(async () => {
    await foreign?.close();
    await install?.stop();
  });

  it('stops before the freeze when a pod cannot trust the endpoint it reaches', async () => {
    const convert = runConvert(
      readConvertConfig(
        inputs({ phase: 'cutover', 'backup-id': backupId, 'pod-endpoint': foreign.url }),
        {},
        noMask,
      ),
      log,
    );
    await expect(convert).rejects.toThrow(
      new RegExp(
        `pods in namespace "dify" cannot use ${foreign.url}: certificate of ${foreign.url} not trusted: unable to get local issuer certificate`,
      ),
    );
    // Nothing frozen, nothing created, and the probe pod is gone.
    for (const sts of list('statefulsets')) expect(sts.spec?.replicas).toBe(1);
    expect(list('deployments')).toEqual([]);
    expect(caConfigMap()).toBeUndefined();
    expect(list('pods').filter((p) => p.metadata?.labels?.['dify-storage.io/probe'])).toEqual([]);
    await install.waitForApi(30_000);
  }, 90_000);

  it('mounts the CA into api and worker; Dify on S3 over TLS passes verify; rollback removes it all', async () => {
    // 600 s of simulated time (×0.05): 30 s for the api to start on S3 on a loaded machine.
    await runConvert(
      readConvertConfig(
        inputs({ phase: 'cutover', 'backup-id': backupId, 'rollout-timeout': '600' }),
        {},
        noMask,
      ),
      log,
    );
    expect(lines.join('\n')).toMatch(
      /Probe pod: reached https:\/\/127\.0\.0\.1:\d+, certificate trusted/,
    );
    const cm = caConfigMap();
    expect(cm?.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('dify-storage-migration');
    expect(cm?.data?.['ca-bundle.crt']).toContain(readFileSync(env.DSM_S3_CA_FILE, 'utf8').trim());
    for (const d of list('deployments')) {
      const pod = (d.spec?.template as { spec: Record<string, unknown[]> }).spec;
      const container = pod.containers![0] as {
        env: { name: string; value?: string }[];
        volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
      };
      expect(container.env).toEqual(
        expect.arrayContaining([
          { name: 'AWS_CA_BUNDLE', value: '/etc/dify-storage/ca/ca-bundle.crt' },
          { name: 'REQUESTS_CA_BUNDLE', value: '/etc/dify-storage/ca/ca-bundle.crt' },
        ]),
      );
      expect(container.volumeMounts).toContainEqual({
        name: 'dify-s3-ca-bundle',
        mountPath: '/etc/dify-storage/ca',
        readOnly: true,
      });
    }
    const shared = list('configmaps').find((c) => c.metadata?.name === 'dify-shared-config');
    expect(shared?.data?.S3_ENDPOINT).toBe(env.DSM_S3_TLS_ENDPOINT);
    // The api pods only come up because boto3 finds the CA: HeadBucket over TLS at start.
    await install.waitForApi(30_000);
    const tenant = install.seeded.tenants[0]!;
    const report = await runVerify(
      readVerifyConfig(
        inputs({
          'app-api-key': tenant.appApiKey,
          'dataset-api-key': tenant.datasetApiKey,
          'indexing-timeout': '10',
          'report-path': path.join(install.workDir, 'verify-tls.json'),
        }),
        {},
        noMask,
      ),
      log,
    );
    const status = Object.fromEntries(report.stages.map((s) => [s.stage, s.status]));
    expect(status).toMatchObject({
      workloads: 'pass',
      'database-references': 'pass',
      'dify-health': 'pass',
      'write-path': 'pass',
      'read-path': 'pass',
      'worker-path': 'pass',
      'storage-latency': 'pass',
    });

    await runRollback(readRollbackConfig(inputs({ 'backup-id': backupId }), {}, noMask), log);
    expect(caConfigMap()).toBeUndefined();
    expect(list('deployments')).toEqual([]);
    expect(
      list('statefulsets')
        .map((s) => s.metadata?.name)
        .sort(),
    ).toEqual(['dify-api', 'dify-worker']);
  }, 180_000);
});
