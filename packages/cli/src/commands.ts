import { KubeInputs, S3Inputs, type InputReader } from '@dify-storage/action-kit';
import {
  BackupInputs,
  ConvertInputs,
  MigrateInputs,
  RollbackInputs,
  VerifyInputs,
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
  type ConvertResult,
  type Logger,
} from '@dify-storage/operations';
import { renderText } from '@dify-storage/verify';
import { runStatus, STATUS_INPUTS } from './status.js';

const noMask = () => undefined;
const s3 = Object.values(S3Inputs);
const kube = Object.values(KubeInputs);

export interface Command {
  summary: string;
  /** The flags it takes: the inputs of the matching action. */
  inputs: string[];
  /** Runs it; returns the text printed at the end and whether it succeeded. */
  run(
    read: InputReader,
    env: NodeJS.ProcessEnv,
    log: Logger,
  ): Promise<{ text: string; ok: boolean }>;
}

function convertText(r: ConvertResult): string {
  if (r.phase === 'plan') return `${r.planMarkdown}\nplan: ${r.planPath}`;
  return [
    r.message,
    ...r.journal.map((e) => `  ${e.action} ${e.kind}/${e.name}: ${e.detail}`),
    ...(r.freezeSeconds !== undefined ? [`write freeze: ${r.freezeSeconds} s`] : []),
    ...(r.delta ? [r.delta.text] : []),
  ].join('\n');
}

/** With a fixed input (e.g. the phase of `plan`), the user may not pass it. */
const fixed =
  (read: InputReader, values: Record<string, string>): InputReader =>
  (name) =>
    values[name] ?? read(name);

/** A command that runs one phase of convert-workloads (the phase is not a flag). */
function convertPhase(phase: 'plan' | 'cutover', summary: string): Command {
  return {
    summary,
    inputs: [
      ...Object.values(ConvertInputs).filter((i) => i !== ConvertInputs.Phase),
      ...kube,
      ...s3,
    ],
    async run(read, env, log) {
      const config = readConvertConfig(fixed(read, { [ConvertInputs.Phase]: phase }), env, noMask);
      return { text: convertText(await runConvert(config, log)), ok: true };
    },
  };
}

export const COMMANDS: Record<string, Command> = {
  preflight: {
    summary: 'Check node, storage directory and free space for a backup; writes nothing.',
    inputs: [
      ...Object.values(BackupInputs).filter((i) => i !== BackupInputs.PreflightOnly),
      ...kube,
      ...s3,
    ],
    async run(read, env, log) {
      const config = readBackupConfig(
        fixed(read, { [BackupInputs.PreflightOnly]: 'true' }),
        env,
        noMask,
      );
      const r = await runBackup(config, log);
      return {
        text: `preflight passed: ${r.node}:${r.storagePath}, ${r.preflight.files} files`,
        ok: true,
      };
    },
  },
  backup: {
    summary:
      'Archive + manifest + verification of the storage directory, and the Kubernetes snapshot.',
    inputs: [
      ...Object.values(BackupInputs).filter((i) => i !== BackupInputs.PreflightOnly),
      ...kube,
      ...s3,
    ],
    async run(read, env, log) {
      const r = await runBackup(readBackupConfig(read, env, noMask), log);
      const b = r.backup!;
      return {
        text: `backup ${b.record.id}: ${b.record.counts.files} files, archive ${b.archivePath}, record ${b.recordPath}`,
        ok: true,
      };
    },
  },
  migrate: {
    summary: 'Copy the storage tree into the bucket (bulk, delta) or compare them (verify).',
    inputs: [...Object.values(MigrateInputs), ...s3],
    async run(read, env, log) {
      const r = await runMigrate(readMigrateConfig(read, env, noMask), log);
      return { text: `${r.text}\nreport: ${r.reportPath}`, ok: r.report.ok };
    },
  },
  plan: convertPhase('plan', 'Show exactly what the cutover would change; changes nothing.'),
  cutover: convertPhase(
    'cutover',
    'Freeze writes, copy the final delta, convert the workloads to Deployments on S3.',
  ),
  convert: {
    summary: 'One phase of the cutover: --phase plan|freeze|apply|cutover.',
    inputs: [...Object.values(ConvertInputs), ...kube, ...s3],
    async run(read, env, log) {
      return {
        text: convertText(await runConvert(readConvertConfig(read, env, noMask), log)),
        ok: true,
      };
    },
  },
  verify: {
    summary: "Prove each stage of Dify's data flow on the bucket.",
    inputs: [...Object.values(VerifyInputs), ...kube, ...s3],
    async run(read, env, log) {
      const r = await runVerify(readVerifyConfig(read, env, noMask), log);
      return { text: `${renderText(r)}\nreport: ${r.reportPath}`, ok: r.verdict === 'pass' };
    },
  },
  rollback: {
    summary:
      'Restore the hostPath system from a backup, copying back what the bucket gained since.',
    inputs: [...Object.values(RollbackInputs), ...kube, ...s3],
    async run(read, env, log) {
      const r = await runRollback(readRollbackConfig(read, env, noMask), log);
      const failed = r.checks.filter((c) => !c.ok);
      return {
        text: [
          r.message,
          `copied back ${r.copyBack?.copied ?? 0} object(s), refused ${r.copyBack?.refused ?? 0}; downtime ${r.downtimeSeconds} s`,
          ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
          `report: ${r.reportPath}`,
        ].join('\n'),
        ok: failed.length === 0,
      };
    },
  },
  status: {
    summary: 'Where the install stands: workloads, storage settings, lock, backups, rollbacks.',
    inputs: STATUS_INPUTS,
    async run(read, env) {
      return { text: await runStatus(read, env), ok: true };
    },
  },
};
