import { type InputReader, type Outcome } from '@dify-storage/action-kit';
import { formatBytes } from '@dify-storage/common';
import {
  formatReferencesText,
  readBackupConfig,
  readConvertConfig,
  readReferencesConfig,
  readMigrateConfig,
  readRollbackConfig,
  readVerifyConfig,
  readPluginDaemonConfig,
  runBackup,
  runPluginDaemon,
  runConvert,
  runMigrate,
  runReferences,
  runRollback,
  runVerify,
  incompleteMessage,
  type ConvertResult,
  type Logger,
} from '@dify-storage/operations';
import { renderText } from '@dify-storage/verify';
import { actionInputs, type Flag } from './flags.js';
import { readStatusConfig, runStatus, STATUS_FLAGS } from './status.js';

const noMask = () => undefined;

/** `done` when the run's own check passed, `failed` when it found a problem. */
const checked = (ok: boolean): Outcome => (ok ? 'done' : 'failed');

export interface CommandResult {
  /** What a person reads at the end. */
  text: string;
  /** What the run came to: its exit code (EXIT_CODES). */
  outcome: Outcome;
  /** The next command to run, printed last. */
  next: string;
  /** The machine-readable result, printed by --json. */
  result: unknown;
}

/**
 * One CLI command. Its flags are the inputs of `action` (from its action.yml, less `fixed`),
 * plus `flags` declared here for what has no action behind it.
 */
export interface Command<C = unknown> {
  summary: string;
  /** The action (actions/<name>) whose action.yml declares this command's flags. */
  action?: string;
  /** Inputs of that action the command sets itself; they are not flags. */
  fixed?: Record<string, string>;
  /** Flags with no action behind them, with the fields --help shows. */
  flags?: Flag[];
  /** 2–3 command lines a user can copy. */
  examples: string[];
  /** Reads and validates every flag before anything is touched. */
  config(read: InputReader, env: NodeJS.ProcessEnv): C;
  run(config: C, env: NodeJS.ProcessEnv, log: Logger): Promise<CommandResult>;
}

/** Keeps each command's config type while listing them in one record. */
const command = <C>(c: Command<C>): Command => c as unknown as Command;

/** With a fixed input (e.g. the phase of `plan`), the user may not pass it. */
const withFixed =
  (read: InputReader, values: Record<string, string> = {}): InputReader =>
  (name) =>
    values[name] ?? read(name);

/** The message, the freeze window and the delta summary were logged as they happened. */
function convertText(r: ConvertResult): string {
  if (r.phase === 'plan') return `${r.planMarkdown}\nplan: ${r.planPath}`;
  if (r.journal.length === 0) return 'no change was made in the cluster';
  return [
    `changes made in the cluster (also in ${r.changesPath}):`,
    ...r.journal.map((e) => `  ${e.action} ${e.kind}/${e.name}: ${e.detail}`),
  ].join('\n');
}

/** What to run after a convert phase. */
function convertNext(r: ConvertResult): { outcome: Outcome; next: string } {
  if (r.phase === 'plan') {
    return r.plan.blockers.length > 0
      ? {
          outcome: 'blocked',
          next: 'resolve the blocking findings above, then run dify-storage plan again.',
        }
      : { outcome: 'done', next: 'dify-storage cutover --backup-id <the backup id>' };
  }
  if (r.phase === 'cutover' || r.phase === 'apply') {
    return { outcome: 'done', next: 'dify-storage verify (with --dify-url and the Dify keys).' };
  }
  return { outcome: 'done', next: 'dify-storage convert --phase apply, or dify-storage status.' };
}

const S3_ENV =
  'DIFY_STORAGE_ENDPOINT=http://127.0.0.1:7480 DIFY_STORAGE_ACCESS_KEY_ID=… DIFY_STORAGE_SECRET_ACCESS_KEY=…';

/** A command that runs one phase of convert-workloads (the phase is not a flag). */
function convertPhase(phase: 'plan' | 'cutover', summary: string, examples: string[]): Command {
  const fixed = { phase };
  return command({
    summary,
    action: 'convert-workloads',
    fixed,
    examples,
    config: (read, env) => readConvertConfig(withFixed(read, fixed), env, noMask),
    async run(config, _env, log) {
      const r = await runConvert(config, log);
      return { text: convertText(r), ...convertNext(r), result: r };
    },
  });
}

/** `references` has no action: the S3 and database flags as verify-dify declares them. */
/** The plugin daemon's opt-in move: its own bucket, with the cluster and S3 flags of convert-workloads. */
const PLUGIN_DAEMON_FLAGS: Flag[] = [
  {
    name: 'phase',
    description:
      'move: stop the daemon, copy plugin/, plugin_packages/, assets/, persistence/ into the bucket, set its S3 env, start it; rollback: copy back what it wrote there and restore its local settings.',
    required: true,
    allowed: 'one of: move, rollback',
  },
  {
    name: 'plugin-daemon-name',
    description: 'The Deployment or StatefulSet running langgenius/dify-plugin-daemon.',
    default: 'dify-plugin-daemon',
  },
  {
    name: 'plugin-storage-path',
    description:
      "Where this runner sees the daemon's local root (PLUGIN_STORAGE_LOCAL_ROOT); default: its hostPath.",
  },
  ...actionInputs('convert-workloads').filter((f) =>
    [
      'kubeconfig',
      'namespace',
      'endpoint',
      'region',
      'path-style',
      'access-key-id',
      'secret-access-key',
      'ca-bundle',
      'state-dir',
      'rollout-timeout',
    ].includes(f.name),
  ),
  {
    name: 'bucket',
    description:
      "The daemon's own bucket (PLUGIN_STORAGE_OSS_BUCKET), not Dify's: its keys would mix with Dify's.",
    required: true,
  },
];

const REFERENCES_FLAGS: Flag[] = [
  {
    name: 'storage-path',
    description:
      'Absolute path of the storage directory (the hostPath): where each referenced file must be, at its OpenDAL-normalized path.',
    required: true,
  },
  ...actionInputs('verify-dify')
    .filter((f) =>
      [
        'bucket',
        'endpoint',
        'region',
        'path-style',
        'access-key-id',
        'secret-access-key',
        'database-url',
        'read-back',
      ].includes(f.name),
    )
    .map((f) =>
      f.name === 'bucket'
        ? {
            name: f.name,
            description:
              'Bucket to check each reference against, under its verbatim key; without it only the source tree is checked.',
          }
        : f.name === 'database-url'
          ? { ...f, required: true }
          : f,
    ),
];

export const COMMANDS: Record<string, Command> = {
  preflight: command({
    summary: 'Check node, storage directory and free space for a backup; writes nothing.',
    action: 'backup-hostpath',
    fixed: { 'preflight-only': 'true' },
    examples: [
      'dify-storage preflight --backup-dir /var/backups/dify-storage',
      'dify-storage preflight --backup-dir /var/backups/dify-storage --namespace dify --api-pod dify-api-0',
    ],
    config: (read, env) =>
      readBackupConfig(withFixed(read, { 'preflight-only': 'true' }), env, noMask),
    async run(config, _env, log) {
      const r = await runBackup(config, log);
      return {
        text: `preflight passed: ${r.node}:${r.storagePath}, ${r.preflight.files} files${r.preExisting ? `\n${r.preExisting.line}` : ''}`,
        outcome: 'done',
        next: 'dify-storage backup (same flags).',
        result: r,
      };
    },
  }),
  backup: command({
    summary:
      'Archive + manifest + verification of the storage directory, and the Kubernetes snapshot.',
    action: 'backup-hostpath',
    fixed: { 'preflight-only': 'false' },
    examples: [
      'dify-storage backup --backup-dir /var/backups/dify-storage',
      'dify-storage backup --backup-dir /var/backups/dify-storage --keep 3 --compression-level 9',
      `${S3_ENV} dify-storage backup --backup-dir /var/backups/dify-storage --off-node-bucket dify-backups`,
    ],
    config: (read, env) =>
      readBackupConfig(withFixed(read, { 'preflight-only': 'false' }), env, noMask),
    async run(config, _env, log) {
      const r = await runBackup(config, log);
      const b = r.backup!;
      return {
        text: `backup ${b.record.id}: ${b.record.counts.files} files, archive ${b.archivePath}, record ${b.recordPath}${r.preExisting ? `\n${r.preExisting.line}` : ''}`,
        outcome: 'done',
        next: `dify-storage migrate --mode bulk (while Dify runs), then dify-storage plan; the cutover takes --backup-id ${b.record.id}.`,
        result: r,
      };
    },
  }),
  migrate: command({
    summary: 'Copy the storage tree into the bucket (bulk, delta) or compare them (verify).',
    action: 'migrate-to-s3',
    examples: [
      `${S3_ENV} dify-storage migrate --storage-path /root/dify/storage --bucket dify-files`,
      'dify-storage migrate --storage-path /root/dify/storage --bucket dify-files --mode delta',
      'dify-storage migrate --storage-path /root/dify/storage --bucket dify-files --mode verify --json',
    ],
    config: (read, env) => readMigrateConfig(read, env, noMask),
    async run(config, _env, log) {
      const r = await runMigrate(config, log);
      return {
        text: `${r.text}\nreport: ${r.reportPath}`,
        outcome: checked(r.report.ok),
        next: r.report.ok
          ? 'dify-storage plan shows what the cutover would change.'
          : 'run the same command again: it resumes and retries what failed.',
        result: r.report,
      };
    },
  }),
  plan: convertPhase('plan', 'Show exactly what the cutover would change; changes nothing.', [
    'dify-storage plan --bucket dify-files',
    `${S3_ENV} dify-storage plan --bucket dify-files --namespace dify`,
  ]),
  cutover: convertPhase(
    'cutover',
    'Freeze writes, copy the final delta, convert the workloads to Deployments on S3.',
    [
      'dify-storage cutover --bucket dify-files --storage-path /root/dify/storage',
      `${S3_ENV} dify-storage cutover --bucket dify-files --namespace dify`,
    ],
  ),
  convert: command({
    summary: 'One phase of the cutover: --phase plan|freeze|apply|cutover.',
    action: 'convert-workloads',
    examples: [
      'dify-storage convert --phase plan --bucket dify-files',
      'dify-storage convert --phase freeze --bucket dify-files',
    ],
    config: (read, env) => readConvertConfig(read, env, noMask),
    async run(config, _env, log) {
      const r = await runConvert(config, log);
      return { text: convertText(r), ...convertNext(r), result: r };
    },
  }),
  verify: command({
    summary: "Prove each stage of Dify's data flow on the bucket.",
    action: 'verify-dify',
    examples: [
      'dify-storage verify --bucket dify-files',
      'dify-storage verify --bucket dify-files --json',
    ],
    config: (read, env) => readVerifyConfig(read, env, noMask),
    async run(config, _env, log) {
      const r = await runVerify(config, log);
      const verdict = { pass: 'done', fail: 'failed', incomplete: 'blocked' } as const;
      return {
        text: [
          renderText(r),
          ...(r.verdict === 'incomplete' ? [incompleteMessage(r)] : []),
          `report: ${r.reportPath}`,
        ].join('\n'),
        outcome: verdict[r.verdict],
        next:
          r.verdict === 'fail'
            ? 'roll back (dify-storage rollback --backup-id <id>), or fix the failed stage and verify again.'
            : r.verdict === 'incomplete'
              ? 'verify again with the missing inputs (or --skip-stages for stages you skip on purpose).'
              : 'keep the backup until you are sure; dify-storage status shows where the install stands.',
        result: r,
      };
    },
  }),
  rollback: command({
    summary:
      'Restore the hostPath system from a backup, copying back what the bucket gained since.',
    action: 'rollback',
    examples: [
      'dify-storage rollback --backup-dir /var/backups/dify-storage --bucket dify-files',
      'dify-storage rollback --backup-dir /var/backups/dify-storage --bucket dify-files --backup-id <id>',
    ],
    config: (read, env) => readRollbackConfig(read, env, noMask),
    async run(config, _env, log) {
      const r = await runRollback(config, log);
      const failed = r.checks.filter((c) => !c.ok);
      return {
        text: [
          r.message,
          `copied back ${r.copyBack?.copied ?? 0} object(s) (${formatBytes(r.copyBack?.bytes ?? 0)}), refused ${r.copyBack?.refused ?? 0}; downtime ${r.downtimeSeconds} s`,
          ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
          `report: ${r.reportPath}`,
        ].join('\n'),
        outcome: checked(failed.length === 0),
        next:
          failed.length === 0
            ? 'dify-storage status shows the install back on the hostPath.'
            : 'fix the failed check above, then run the same rollback again (it resumes).',
        result: r,
      };
    },
  }),
  references: command({
    summary:
      "Resolve every key Dify's database references in the source tree and the bucket; a table per kind.",
    flags: REFERENCES_FLAGS,
    examples: [
      'DIFY_STORAGE_DATABASE_URL=postgresql://… dify-storage references --storage-path /root/dify/storage',
      `${S3_ENV} DIFY_STORAGE_DATABASE_URL=postgresql://… dify-storage references --storage-path /root/dify/storage --bucket dify-files --json`,
    ],
    config: (read, env) => readReferencesConfig(read, env, noMask),
    async run(config) {
      const r = await runReferences(config);
      return {
        text: formatReferencesText(r),
        outcome: checked(r.status === 'pass'),
        next:
          r.status === 'pass'
            ? 'dify-storage plan shows what the cutover would change.'
            : 'find the missing files listed above (a backup, another node) before the cutover.',
        result: r,
      };
    },
  }),
  'plugin-daemon': command({
    summary:
      "Opt-in: move the plugin daemon's local storage to its own S3 bucket (or back, --phase rollback).",
    flags: PLUGIN_DAEMON_FLAGS,
    examples: [
      `${S3_ENV} dify-storage plugin-daemon --phase move --bucket dify-plugins --namespace dify`,
      `${S3_ENV} dify-storage plugin-daemon --phase rollback --bucket dify-plugins --namespace dify`,
    ],
    config: (read, env) => readPluginDaemonConfig(read, env, noMask),
    async run(config, _env, log) {
      const r = await runPluginDaemon(config, log);
      return {
        text: r.message,
        outcome: 'done',
        next:
          config.phase === 'move'
            ? 'check that plugins still work; dify-storage plugin-daemon --phase rollback (same flags) undoes it.'
            : 'the daemon stores locally again.',
        result: r,
      };
    },
  }),
  status: command({
    summary: 'Where the install stands: workloads, storage settings, lock, backups, rollbacks.',
    flags: STATUS_FLAGS,
    examples: [
      'dify-storage status',
      'dify-storage status --namespace dify --backup-dir /var/backups/dify-storage',
      'dify-storage status --json',
    ],
    config: readStatusConfig,
    async run(config) {
      const r = await runStatus(config);
      return {
        text: r.lines.join('\n'),
        outcome: r.mixed.length ? 'blocked' : 'done',
        next: r.mixed.length
          ? 'the install is mixed; finish the cutover (dify-storage cutover) or roll back (dify-storage rollback --backup-id <id>).'
          : 'dify-storage plan shows what the cutover would change.',
        result: r,
      };
    },
  }),
};
