/**
 * The README's main command: the whole migration story on the embedded local environment —
 * real Ceph RGW, PostgreSQL and Redis, a simulated Kubernetes cluster running a Dify 1.3.0
 * emulator on a hostPath — through the same operations the actions and the CLI run:
 * preflight, backup, bulk copy while uploads keep arriving, plan, cutover, verify, an upload
 * and a new tenant on S3, rollback, and the old system checked.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
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
import { renderDataFlowTable, renderText } from '@dify-storage/verify';
import { createWorkspace, uploadThroughDify } from '../src/install/dify-client.js';
import {
  installCliEnv,
  installInputs,
  renderEnvFile,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../src/install/simulated-install.js';
import { startProvingGround } from '../src/proving-ground/index.js';

const started = Date.now();
const out = (line: string) => process.stdout.write(`${line}\n`);
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log: Logger = {
  info: (l) => out(`    ${l}`),
  warn: (l) => out(`    warning: ${l}`),
};
const noMask = () => undefined;
const stages: { name: string; ok: boolean; detail: string; seconds: number }[] = [];

async function stage<T>(
  name: string,
  fn: () => Promise<{ value: T; detail: string; ok?: boolean }>,
): Promise<T> {
  const t = Date.now();
  out(`\n[${elapsed()}] ${name}`);
  try {
    const { value, detail, ok = true } = await fn();
    stages.push({ name, ok, detail, seconds: (Date.now() - t) / 1000 });
    out(`  ${ok ? 'ok' : 'FAILED'}: ${detail}`);
    if (!ok) throw new Error(`${name} failed: ${detail}`);
    return value;
  } catch (error) {
    if (!stages.some((s) => s.name === name)) {
      stages.push({
        name,
        ok: false,
        detail: (error as Error).message,
        seconds: (Date.now() - t) / 1000,
      });
      out(`  FAILED: ${(error as Error).message}`);
    }
    throw error;
  }
}

const ground = await startProvingGround({ owner: 'demo' });
let install: SimulatedInstall | undefined;
let exitCode = 0;
const shutdown = async (code: number) => {
  await install?.stop().catch(() => undefined);
  await ground.stop().catch(() => undefined);
  process.exit(code);
};
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

try {
  out(
    `Local environment: Ceph RGW ${ground.env.DSM_S3_ENDPOINT}, PostgreSQL, Redis (${elapsed()})`,
  );
  install = await stage(
    'Bring up the simulated install (fake cluster, Dify emulator on hostPath, seeded)',
    async () => {
      const i = await startSimulatedInstall({
        env: ground.env,
        seed: 'demo',
        files: 300,
        timeScale: 0.1,
      });
      return {
        value: i,
        detail: `namespace ${i.namespace}, StatefulSets dify-api/dify-worker on ${i.node}, ${i.seeded.counts.objectsOnDisk} files (${(i.seeded.bytesOnDisk / 1048576).toFixed(1)} MiB) in ${i.storagePath}, Dify at ${i.difyUrl}`,
      };
    },
  );
  const tenant = install.seeded.tenants[0]!;
  const read = (extra: Record<string, string>) => installInputs(install!, extra);

  await stage('Preflight', async () => {
    const r = await runBackup(
      readBackupConfig(read({ 'preflight-only': 'true' }), {}, noMask),
      log,
    );
    return {
      value: r,
      detail: `runner on ${r.node}, ${r.preflight.files} files to back up, room available`,
    };
  });
  const backup = await stage(
    'Backup (zstd archive + manifest, verified; Kubernetes snapshot)',
    async () => {
      const r = await runBackup(readBackupConfig(read({}), {}, noMask), log);
      const rec = r.backup!.record;
      return {
        value: r.backup!,
        detail: `backup ${rec.id}: ${rec.counts.files} files, archive ${(rec.archive.bytes / 1048576).toFixed(1)} MiB, ${rec.kubernetes.objects.length} objects snapshotted`,
      };
    },
  );
  await stage('Online bulk copy while Dify keeps receiving uploads', async () => {
    let uploads = 0;
    let copying = true;
    const uploader = (async () => {
      while (copying) {
        await uploadThroughDify(
          install!,
          tenant.appApiKey,
          `during-copy-${uploads}.txt`,
          randomBytes(2048),
        );
        uploads += 1;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await runMigrate(readMigrateConfig(read({ mode: 'bulk' }), {}, noMask), log).finally(
      () => (copying = false),
    );
    await uploader;
    if (r.mode === 'verify') throw new Error('unexpected verify result');
    return {
      value: r,
      detail: `${r.report.counts.copied} files copied (${uploads} uploads arrived meanwhile, left for the delta)`,
      ok: r.report.ok,
    };
  });
  await stage('Plan (changes nothing)', async () => {
    const r = await runConvert(readConvertConfig(read({ phase: 'plan' }), {}, noMask), log);
    out(
      r.planMarkdown
        .split('\n')
        .map((l) => `    | ${l}`)
        .join('\n'),
    );
    return { value: r, detail: `plan written to ${r.planPath}` };
  });
  await stage('Cutover: freeze, final delta, StatefulSets → Deployments on S3', async () => {
    const r = await runConvert(
      readConvertConfig(read({ phase: 'cutover', 'backup-id': backup.record.id }), {}, noMask),
      log,
    );
    return {
      value: r,
      detail: `${r.message}; delta copied ${r.delta?.copied ?? 0} file(s); write freeze ${r.freezeSeconds ?? '?'} s`,
    };
  });
  await install.waitForApi();
  const verify = await stage('Verify every stage of the data flow on S3', async () => {
    const r = await runVerify(
      readVerifyConfig(
        read({
          'manifest-path': backup.manifestPath,
          'read-back': 'sample',
          'app-api-key': tenant.appApiKey,
          'dataset-api-key': tenant.datasetApiKey,
          'indexing-timeout': '60',
        }),
        {},
        noMask,
      ),
      log,
    );
    return { value: r, detail: `verdict ${r.verdict}`, ok: r.verdict === 'pass' };
  });
  const after = await stage(
    'Use Dify on S3: an upload and a new tenant after the cutover',
    async () => {
      const file = await uploadThroughDify(
        install!,
        tenant.appApiKey,
        'after-cutover.txt',
        randomBytes(4096),
      );
      const ws = await createWorkspace(install!, 'created-on-s3');
      return {
        value: { file, ws },
        detail: `upload ${file.id} and tenant ${ws.tenant_id} written to the bucket`,
      };
    },
  );
  const rollback = await stage('Rollback to hostPath (nothing written on S3 is lost)', async () => {
    const r = await runRollback(
      readRollbackConfig(read({ 'backup-id': backup.record.id }), {}, noMask),
      log,
    );
    const failed = r.checks.filter((c) => !c.ok);
    return {
      value: r,
      detail: `${r.message}; ${r.copyBack?.copied ?? 0} object(s) copied back; downtime ${r.downtimeSeconds} s; ${r.checks.length - failed.length}/${r.checks.length} checks passed`,
      ok: failed.length === 0,
    };
  });
  await stage('Verify the old system', async () => {
    await install!.waitForApi();
    const newKey = rollback.checks.find((c) => c.name.includes(after.ws.tenant_id));
    const readable = rollback.checks.filter((c) => c.name.startsWith('file '));
    const ok = Boolean(newKey?.ok) && readable.length > 0 && readable.every((c) => c.ok);
    return {
      value: null,
      detail: `${readable.length} file(s) written on S3 readable through file-preview on hostPath; new tenant's private key ${newKey?.ok ? 'present' : 'MISSING'}`,
      ok,
    };
  });

  out('\nData flow on S3 (evidence of this run):\n');
  out(renderDataFlowTable(verify));
  out(`\n${renderText(verify)}`);
} catch {
  exitCode = 1;
}

out('\nStory:');
for (const s of stages)
  out(`  ${s.ok ? 'PASS' : 'FAIL'}  ${s.seconds.toFixed(1).padStart(5)}s  ${s.name}`);
out(
  `\n${exitCode === 0 ? 'The migration and the rollback worked end to end' : 'The demo FAILED'} in ${elapsed()}.`,
);
if (install && process.argv.includes('--keep')) {
  // Leave the environment up to look around; Ctrl-C stops everything.
  const t = install.seeded.tenants[0]!;
  const envFile = path.join(install.workDir, 'dify-storage.env');
  await writeFile(envFile, renderEnvFile(installCliEnv(install)), { mode: 0o600 });
  out(`
Everything the CLI needs (S3 keys, bucket, storage path, node, kubeconfig, database URL, Dify URL,
the app and dataset API keys) is in ${envFile}. In another shell:
  source ${envFile}
  npx dify-storage status
  npx dify-storage verify
  npx dify-storage backup

The install keeps running (on hostPath again, after the rollback). Try:
  curl ${install.difyUrl}/health
  curl -X POST -H 'Authorization: Bearer ${t.appApiKey}' -F file=@README.md -F user=me ${install.difyUrl}/v1/files/upload
  ls ${install.storagePath}/upload_files/${t.id}
  psql '${install.databaseUrl}' -c 'select key, storage_type from upload_files order by created_at desc limit 3'
  kubectl --kubeconfig ${install.kubeconfigPath} -n dify get statefulsets,deployments,pods
Ctrl-C stops everything.`);
  await new Promise(() => undefined);
}
await shutdown(exitCode);
