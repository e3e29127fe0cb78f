/**
 * Issue 15 §7: the plugin daemon's opt-in move to its own S3 backend, and back, on the simulated
 * install with a plugin daemon on its own hostPath (fake Kubernetes API, real RGW over TLS with
 * the private CA).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { S3Client } from '@aws-sdk/client-s3';
import { KubeClient } from '@dify-storage/kube';
import {
  movedPluginDaemonNote,
  PLUGIN_DAEMON_SECRET,
  runPluginDaemon,
  type Logger,
  type PluginDaemonConfig,
} from '@dify-storage/operations';
import {
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { testEnv } from '../../src/proving-ground/index.js';
import { cli } from '../../../packages/cli/test/support.js';
import { createTestBucket, testS3Client } from '../../src/proving-ground/s3.js';
import { bucketObjects, getObject, putObject } from '../rollback/support.js';
import { dropBucket, waitForPods } from '../verify/support.js';

const log: Logger = { info: () => undefined, warn: () => undefined };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What dify-plugin-daemon 0.0.9 keeps under its local root (and cwd/, which stays local). */
const FILES: Record<string, string> = {
  'plugin/langgenius/openai:0.0.9@7f3c9a': 'installed package',
  'plugin_packages/3b1e0c9d': 'uploaded package',
  'assets/5d41402abc4b2a76b9719d911017c592.svg': '<svg/>',
  'persistence/tenant-1/checksum-1/settings': 'plugin key-value data',
  'cwd/langgenius/openai-0.0.9@7f3c9a/main.py': 'extracted plugin, always local',
};

interface DaemonEnv {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

describe('plugin daemon: opt-in move to S3 and back', () => {
  let install: SimulatedInstall;
  let s3: S3Client;
  let bucket: string;
  let hostDir: string;
  let config: (phase: 'move' | 'rollback') => Promise<PluginDaemonConfig>;
  const daemon = () =>
    install.server.api.get('deployments', install.namespace, 'dify-plugin-daemon') as unknown as {
      spec: {
        replicas: number;
        template: { spec: { containers: { env: DaemonEnv[]; volumeMounts: unknown[] }[] } };
      };
    };
  let originalTemplate: unknown;
  let kubeconfigText: string;
  const kube = () => KubeClient.load({ kubeconfig: kubeconfigText });

  beforeAll(async () => {
    install = await startSimulatedInstall({
      env: testEnv(),
      files: 6,
      timeScale: 0.1,
      shape: 'other-workloads',
    });
    s3 = testS3Client();
    bucket = await createTestBucket(s3, 'plugins');
    // The fixture's hostPath /root/dify/plugin on the simulated node.
    hostDir = path.join(install.workDir, 'nodes', install.node, 'root/dify/plugin');
    for (const [rel, body] of Object.entries(FILES)) {
      await mkdir(path.dirname(path.join(hostDir, rel)), { recursive: true });
      await writeFile(path.join(hostDir, rel), body);
    }
    await waitForPods(install, 'dify-plugin-daemon', 1);
    originalTemplate = structuredClone(daemon().spec.template);
    const kubeconfig = await readFile(install.kubeconfigPath, 'utf8');
    kubeconfigText = kubeconfig;
    const caBundle = await readFile(install.s3.caFile, 'utf8');
    config = async (phase) => ({
      phase,
      kube: { kubeconfig, namespace: install.namespace },
      daemonName: 'dify-plugin-daemon',
      s3: {
        bucket,
        endpoint: install.s3.tlsEndpoint,
        region: install.s3.region,
        forcePathStyle: true,
        credentials: {
          accessKeyId: install.s3.accessKeyId,
          secretAccessKey: install.s3.secretAccessKey,
        },
        caBundle,
      },
      pluginStoragePath: hostDir,
      stateDir: path.join(install.workDir, 'state'),
      rolloutTimeoutSeconds: 300,
    });
  }, 120_000);
  afterAll(async () => {
    await install?.stop();
    if (s3) await dropBucket(s3, bucket).catch(() => undefined);
    s3?.destroy();
  });

  it('the CLI refuses a bad phase or a missing bucket with exit 2, before touching anything', async () => {
    const r = await cli(['plugin-daemon', '--phase', 'upload', '--namespace', install.namespace], {
      DIFY_STORAGE_KUBECONFIG: await readFile(install.kubeconfigPath, 'utf8'),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Input 'phase'");
    expect(r.stderr).toContain("Input 'bucket' is required");
    expect(daemon().spec.template).toEqual(originalTemplate);
  }, 60_000);

  it('copies the four directories (not cwd/) and points the daemon at its bucket', async () => {
    const r = await runPluginDaemon(await config('move'), log);
    expect(r.noop).toBe(false);
    expect(r.copied.map((c) => [c.prefix, c.files])).toEqual([
      ['plugin', 1],
      ['plugin_packages', 1],
      ['assets', 1],
      ['persistence', 1],
    ]);
    const keys = (await bucketObjects(s3, bucket)).sort();
    expect(keys).toEqual(
      Object.keys(FILES)
        .filter((k) => !k.startsWith('cwd/'))
        .sort(),
    );
    for (const k of keys)
      expect(sha(await getObject(s3, bucket, k))).toBe(sha(Buffer.from(FILES[k]!)));
    const env = daemon().spec.template.spec.containers[0]!.env;
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.PLUGIN_STORAGE_TYPE?.value).toBe('aws_s3');
    expect(byName.PLUGIN_STORAGE_OSS_BUCKET?.value).toBe(bucket);
    expect(byName.S3_USE_AWS_MANAGED_IAM?.value).toBe('false');
    expect(byName.S3_USE_PATH_STYLE?.value).toBe('true');
    expect(byName.S3_ENDPOINT?.value).toBe(install.s3.tlsEndpoint);
    expect(byName.SSL_CERT_FILE?.value).toMatch(/ca-bundle\.crt$/);
    // Keys by reference only: the pod spec holds no secret value.
    expect(byName.AWS_SECRET_KEY?.valueFrom?.secretKeyRef).toEqual({
      name: PLUGIN_DAEMON_SECRET,
      key: 'AWS_SECRET_KEY',
    });
    expect(JSON.stringify(daemon())).not.toContain(install.s3.secretAccessKey);
    expect(daemon().spec.replicas).toBe(1);
    await waitForPods(install, 'dify-plugin-daemon', 1);
    // The local files stay: the way back starts from them.
    for (const rel of Object.keys(FILES)) expect(existsSync(path.join(hostDir, rel))).toBe(true);
    // A second run changes nothing.
    expect((await runPluginDaemon(await config('move'), log)).noop).toBe(true);
    // Dify's rollback leaves the daemon on its bucket and says how to bring it back.
    expect(await movedPluginDaemonNote(kube(), install.namespace)).toBe(
      `Deployment/dify-plugin-daemon (plugin daemon) stays on its bucket ${bucket}: it does not use Dify's storage, so this rollback leaves it there; 'dify-storage plugin-daemon --phase rollback' brings it back to local storage.`,
    );
  }, 120_000);

  it('rollback copies back what the daemon wrote on S3 and restores its local settings', async () => {
    const added = 'plugin/langgenius/tongyi:0.0.3@9e1d2f';
    await putObject(s3, bucket, added, Buffer.from('installed while on S3'));
    const r = await runPluginDaemon(await config('rollback'), log);
    expect(r.noop).toBe(false);
    expect(await readFile(path.join(hostDir, added), 'utf8')).toBe('installed while on S3');
    expect(daemon().spec.template).toEqual(originalTemplate);
    expect(daemon().spec.replicas).toBe(1);
    await waitForPods(install, 'dify-plugin-daemon', 1);
    expect((await runPluginDaemon(await config('rollback'), log)).noop).toBe(true);
    expect(await movedPluginDaemonNote(kube(), install.namespace)).toBeUndefined();
  }, 120_000);
});
