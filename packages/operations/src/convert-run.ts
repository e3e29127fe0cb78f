import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  BlockedError,
  ConfigurationError,
  CouldNotCheckError,
  errorMessage,
} from '@dify-storage/action-kit';
import { planHash } from './plan-hash.js';
import { writeFileAtomic, writeJsonAtomic } from '@dify-storage/common';
import { NoCredentialsError } from '@dify-storage/s3';
import {
  acquireLock,
  applyCutover,
  freezeOthers,
  otherStorageWriters,
  unfreezeOthers,
  desiredDeployment,
  probeEndpointFromPod,
  inspectInstall,
  Journal,
  JournaledError,
  KubeStateError,
  labelSelectorString,
  LockHeldError,
  objectPath,
  ORIGINAL_REPLICAS_ANNOTATION,
  planCutover,
  pollUntil,
  releaseLock,
  renderPlanMarkdown,
  renewLock,
  scaleToZeroAndWait,
  scaleWorkload,
  type CutoverPlan,
  type Finding,
  type CutoverSettings,
  type InspectOptions,
  type InstallInspection,
  type JournalEntry,
  type KubeClient,
  type LockHandle,
  type Logger as KubeLogger,
  type Pod,
  type DifyS3Keys,
  type Workload,
  type WorkloadRef,
} from '@dify-storage/kube';
import {
  S3Transport,
  checkBucketReadable,
  publicExposure,
  formatSummary,
  formatDeltaScan,
  syncToBucket,
  type DeltaOptions,
  type DeltaScan,
  type SyncReport,
} from '@dify-storage/sync';
import { createdSince, normalizeFsPath } from '@dify-storage/dify';
import type { ConvertConfig } from './convert-config.js';
import { cutoverSource, cutoverTrees, requireSourceCoversBucket } from './cutover-source.js';
import { checkStorageIdentity } from './identity.js';
import { lockStateDir } from './state-lock.js';
import {
  compareTrees,
  conflictRefusal,
  describeComparison,
  hasSeveralTrees,
  locateTrees,
  treeStateDir,
  type StorageTree,
} from './tree-compare.js';
import type { Logger } from './logger.js';
import { kubeClient } from './targets.js';
import { fixUpKeys, formatKeyFixUp } from './key-fixup.js';
import { freezeWindowSection, storageIsNodeLocal } from './freeze-estimate.js';
import { referencesPlanSection } from './references-run.js';

/** The freeze may find the api pod gone (an earlier freeze): the node then comes from the pinning. */
const FROZEN_OK = ['api-pod-missing'];
/** Runs kept in the changes file (it is a history, so freeze and a later apply show together). */
const HISTORY_LIMIT = 50;

export interface ConvertHooks {
  /** Called once, the moment the first change is made in the cluster (before any later failure). */
  onMutation?: () => void;
  /** Called when a step starts (plan, freeze, delta copy, apply), for log grouping. */
  onStep?: (title: string) => void;
  /** Poll interval of the freeze and rollout waits (default 2000 ms; tests use less). */
  pollIntervalMs?: number;
  /** The cluster client (default: from config.kube). */
  client?: KubeClient;
}

/** Figures of the final delta copy. */
export interface DeltaSummary {
  ok: boolean;
  files: number;
  copied: number;
  skipped: number;
  failed: number;
  unsupported: number;
  bytesCopied: number;
  durationMs: number;
  /** Which directories the delta listed (pruned), or why it walked the whole tree. */
  scan?: DeltaScan;
  /** The same, as one line for logs and the job summary. */
  scanText?: string;
  /** The engine's own multi-line summary. */
  text: string;
}

/** What a run did so far; complete on success, partial when carried by ConvertFailedError. */
export interface ConvertProgress {
  phase: ConvertConfig['phase'];
  runId: string;
  namespace: string;
  /** True as soon as anything in the cluster was changed by this run. */
  mutationStarted: boolean;
  /** The changes made by this run, in order (no secret values). */
  journal: JournalEntry[];
  /** JSON file with this run's changes, after the earlier runs' (the `changes` output). */
  changesPath: string;
  plan?: CutoverPlan;
  planMarkdown?: string;
  planPath?: string;
  planJsonPath?: string;
  /** Replica counts before the freeze, by workload name. */
  replicas?: Record<string, number>;
  /** Write-freeze window: freeze start → Deployments available. */
  freezeSeconds?: number;
  delta?: DeltaSummary;
  /** HMAC of what the cutover will change, as read (plan-hash.ts): approving by dispatch names it. */
  planHash?: string;
}

export interface ConvertResult extends ConvertProgress {
  /** Nothing had to change. */
  noop: boolean;
  message: string;
  plan: CutoverPlan;
  planMarkdown: string;
  planPath: string;
  planJsonPath: string;
}

/** A run that failed; `progress` says what it changed before failing (for the summary and rollback). */
export class ConvertFailedError extends Error {
  override readonly name = 'ConvertFailedError';
  constructor(
    /** What went wrong, without the list of changes the full message appends. */
    readonly reason: string,
    readonly progress: ConvertProgress,
    cause: unknown,
  ) {
    const made = progress.journal.length
      ? `\nChanges made before the failure (also in ${progress.changesPath}):\n${progress.journal.map((e) => `  - ${e.action} ${e.kind}/${e.name}: ${e.detail}`).join('\n')}`
      : '\nNothing was changed in the cluster.';
    super(`${reason}${made}`, { cause });
  }
}

interface RunRecord {
  runId: string;
  phase: string;
  startedAt: string;
  finishedAt?: string;
  outcome: 'ok' | 'noop' | 'failed';
  error?: string;
  mutationStarted: boolean;
  freezeStartedAt?: string;
  freezeSeconds?: number;
  replicas?: Record<string, number>;
  changes: JournalEntry[];
}

interface ChangesFile {
  runs: RunRecord[];
}

type ConvertPaths = ReturnType<typeof convertStatePaths>;

/** Where a run keeps its plan and changes, under the state directory. */
export function convertStatePaths(stateDir: string): {
  planPath: string;
  planJsonPath: string;
  changesPath: string;
} {
  const dir = path.join(stateDir, 'convert');
  return {
    planPath: path.join(dir, 'plan.md'),
    planJsonPath: path.join(dir, 'plan.json'),
    changesPath: path.join(dir, 'changes.json'),
  };
}

/** The non-secret S3 settings Dify gets (an AWS bucket without an endpoint gets the regional one). */
export function cutoverSettings(config: ConvertConfig): CutoverSettings {
  return {
    endpoint:
      config.podEndpoint ?? config.s3.endpoint ?? `https://s3.${config.s3.region}.amazonaws.com`,
    bucket: config.s3.bucket,
    region: config.s3.region,
    addressStyle: config.s3.forcePathStyle ? 'path' : 'virtual',
    secretName: config.secretName,
    ...(config.settingsSecret ? { settingsSecret: config.settingsSecret } : {}),
    ...(config.allowVersions ? { allowVersions: config.allowVersions } : {}),
    ...(config.s3.caBundle ? { caBundle: config.s3.caBundle } : {}),
    // The Deployment reports failure itself within the wait; the wait adds a margin for the report.
    progressDeadlineSeconds: config.rolloutTimeoutSeconds,
  };
}

/**
 * convert-workloads: plan (changes nothing), freeze, apply, or cutover (freeze → final delta
 * copy → apply), under the namespace's Lease lock. Throws ConvertFailedError carrying what was
 * changed so far; its `cause` is the original error (LockHeldError, JournaledError, ...).
 */
export async function runConvert(
  config: ConvertConfig,
  log: Logger,
  hooks: ConvertHooks = {},
): Promise<ConvertResult> {
  const paths = convertStatePaths(config.stateDir);
  // The cutover's delta copy shares the state directory with migrate: one run at a time.
  const release =
    config.phase === 'cutover'
      ? await lockStateDir(config.stateDir, `cutover ${config.runId}`)
      : async () => undefined;
  try {
    return await convertRun(config, log, hooks, paths);
  } finally {
    await release();
  }
}

async function convertRun(
  config: ConvertConfig,
  log: Logger,
  hooks: ConvertHooks,
  paths: ReturnType<typeof convertStatePaths>,
): Promise<ConvertResult> {
  const run = new ConvertRun(config, log, hooks, paths.changesPath);
  const record: RunRecord = {
    runId: config.runId,
    phase: config.phase,
    startedAt: new Date().toISOString(),
    outcome: 'ok',
    mutationStarted: false,
    changes: run.journal,
  };
  try {
    const result = await run.execute(paths);
    record.outcome = result.noop ? 'noop' : 'ok';
    return result;
  } catch (error) {
    record.outcome = 'failed';
    record.error = errorMessage(error);
    throw new ConvertFailedError(errorMessage(error), run.progress(), error);
  } finally {
    record.finishedAt = new Date().toISOString();
    record.mutationStarted = run.mutationStarted;
    if (run.freezeStartedAt) record.freezeStartedAt = new Date(run.freezeStartedAt).toISOString();
    if (run.freezeSeconds !== undefined) record.freezeSeconds = run.freezeSeconds;
    if (run.replicas) record.replicas = run.replicas;
    // Plan-only runs that changed nothing are not history worth keeping.
    if (config.phase !== 'plan' || run.mutationStarted) {
      await appendRun(paths.changesPath, record).catch((error: unknown) =>
        log.warn(`Could not write ${paths.changesPath}: ${errorMessage(error)}`),
      );
    }
  }
}

class ConvertRun {
  readonly journal: JournalEntry[] = [];
  mutationStarted = false;
  freezeStartedAt: number | undefined;
  freezeSeconds: number | undefined;
  replicas: Record<string, number> | undefined;
  private plan: CutoverPlan | undefined;
  private planMarkdown: string | undefined;
  private planFiles: { planPath: string; planJsonPath: string } | undefined;
  private planHashValue: string | undefined;
  private delta: DeltaSummary | undefined;
  private inspection: InstallInspection | undefined;
  /** cutover: the storage directory the final delta copy reads (the backup's). */
  private source: string | undefined;
  /** cutover: every storage tree the final delta copy reads, the primary (`source`) first. */
  private trees: StorageTree[] | undefined;
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly interval: number;
  /** The kube library's logger shape (`warning`, not `warn`). */
  private readonly kubeLog: KubeLogger;

  constructor(
    private readonly config: ConvertConfig,
    private readonly log: Logger,
    private readonly hooks: ConvertHooks,
    private readonly changesPath: string,
  ) {
    this.client = hooks.client ?? kubeClient(config.kube);
    this.namespace = config.kube.namespace;
    this.interval = hooks.pollIntervalMs ?? 2000;
    this.kubeLog = { info: (l) => log.info(l), warning: (l) => log.warn(l) };
  }

  /** Where the install is: what both the plan's inspection and the apply look at. */
  private installNames(): InspectOptions {
    return {
      namespace: this.namespace,
      apiName: this.config.apiName,
      workerName: this.config.workerName,
      storageMountPath: this.config.storageMountPath,
      ...(this.config.configMap ? { configMapName: this.config.configMap } : {}),
    };
  }

  progress(): ConvertProgress {
    return {
      phase: this.config.phase,
      runId: this.config.runId,
      namespace: this.namespace,
      mutationStarted: this.mutationStarted,
      journal: [...this.journal],
      changesPath: this.changesPath,
      ...(this.plan ? { plan: this.plan } : {}),
      ...(this.planMarkdown !== undefined ? { planMarkdown: this.planMarkdown } : {}),
      ...(this.planFiles ?? {}),
      ...(this.replicas ? { replicas: this.replicas } : {}),
      ...(this.freezeSeconds !== undefined ? { freezeSeconds: this.freezeSeconds } : {}),
      ...(this.delta ? { delta: this.delta } : {}),
      ...(this.planHashValue ? { planHash: this.planHashValue } : {}),
    };
  }

  private record = (entry: JournalEntry): void => {
    this.journal.push(entry);
    if (!this.mutationStarted) {
      this.mutationStarted = true;
      this.hooks.onMutation?.();
    }
  };

  private step(title: string): void {
    this.hooks.onStep?.(title);
  }

  async execute(paths: ConvertPaths): Promise<ConvertResult> {
    if (this.config.phase === 'plan') return this.planOnly(paths);
    // Mutating phases: validate what can be validated before the lock and the first change.
    const credentials = this.config.phase === 'freeze' ? undefined : this.credentials();
    if (this.config.phase === 'cutover') {
      this.source = await cutoverSource(this.config);
      await this.checkStoragePath();
      await checkStorageIdentity(this.config.databaseUrl, this.source, this.log);
    }
    this.step('Taking the migration lock and planning');
    const lock = await acquireLock(this.client, {
      namespace: this.namespace,
      holder: this.config.runId,
      ttlSeconds: this.config.lockTtlSeconds,
    });
    this.log.info(
      `Took the migration lock (Lease ${lock.namespace}/${lock.name}) as "${lock.holder}"${lock.tookOver ? `, taken over from the expired holder "${lock.tookOver}"` : ''}`,
    );
    const stopRenewal = this.keepRenewing(lock);
    try {
      return await this.underLock(paths, credentials);
    } finally {
      stopRenewal();
      await this.releaseLock(lock);
    }
  }

  /** The result of a run that ends here, logged. */
  private done(paths: ConvertPaths, noop: boolean, message: string): ConvertResult {
    this.log.info(message);
    return {
      ...this.progress(),
      noop,
      message,
      plan: this.plan!,
      planMarkdown: this.planMarkdown!,
      planPath: paths.planPath,
      planJsonPath: paths.planJsonPath,
    };
  }

  /** Phase plan: changes nothing. */
  private async planOnly(paths: ConvertPaths): Promise<ConvertResult> {
    this.step('Planning the cutover (nothing is changed)');
    const plan = await this.makePlan(paths, []);
    return this.done(
      paths,
      plan.noop,
      plan.noop
        ? `namespace "${this.namespace}" is already converted to S3: nothing to change`
        : plan.blockers.length
          ? `plan written to ${paths.planPath}; ${plan.blockers.length} finding(s) block the cutover: ${plan.blockers.map((b) => b.code).join(', ')}`
          : `plan written to ${paths.planPath}; nothing was changed`,
    );
  }

  /** Plan again under the lock, check, freeze, copy the delta, apply. */
  private async underLock(
    paths: ConvertPaths,
    credentials: DifyS3Keys | undefined,
  ): Promise<ConvertResult> {
    const { phase } = this.config;
    const plan = await this.makePlan(paths, FROZEN_OK);
    if (plan.noop) {
      return this.done(
        paths,
        true,
        `namespace "${this.namespace}" is already converted to S3: nothing to change (no-op)`,
      );
    }
    this.requireApprovable(plan, paths);
    if (phase === 'cutover') await this.checkBeforeFreeze();
    else if (phase === 'apply') await this.checkBucket(false);
    if (phase === 'freeze' || phase === 'cutover') {
      await this.probeFromPod();
      this.step('Freezing: scaling api and worker to zero');
      await this.freeze(plan);
    }
    if (phase === 'freeze') {
      return this.done(
        paths,
        !this.mutationStarted,
        this.mutationStarted
          ? `api and worker scaled to zero and their pods are gone; nothing writes to the hostPath now`
          : `api and worker were already at zero replicas with no pods left: nothing changed`,
      );
    }
    if (phase === 'cutover') {
      this.step('Final delta copy to the bucket');
      await this.deltaCopy();
    }
    if (this.freezeStartedAt === undefined) {
      const earlier = await lastFreezeStart(this.changesPath);
      if (earlier !== undefined) this.freezeStartedAt = earlier;
    }
    return this.applyAndThaw(paths, credentials!);
  }

  /** The plan has no blocker, and is the approved one when a hash was approved. */
  private requireApprovable(plan: CutoverPlan, paths: ConvertPaths): void {
    if (plan.blockers.length) {
      throw new ConfigurationError(
        `the namespace "${this.namespace}" is not in a shape the cutover can handle (plan: ${paths.planPath}):\n${plan.blockers.map((b) => `  - ${b.code}: ${b.message}`).join('\n')}`,
      );
    }
    const approved = this.config.approvedPlanHash;
    if (this.config.phase === 'cutover' && approved && approved !== this.planHashValue) {
      throw new BlockedError(
        `the cluster changed since the plan that was approved (approved ${approved}, now ${this.planHashValue}); nothing was changed: read the new plan (${paths.planPath}) and approve it`,
      );
    }
  }

  /**
   * Before the freeze: the bucket is writable, every storage tree is readable here and covers
   * the bucket, and no key is in two trees with different content (exit 3, nothing changed).
   */
  private async checkBeforeFreeze(): Promise<void> {
    await this.checkBucket(true);
    this.trees = await cutoverTrees(this.config, this.inspection!, this.source!);
    await requireSourceCoversBucket(
      this.config,
      this.trees.map((t) => t.dir),
    );
    const refusal = conflictRefusal(await compareTrees(this.trees));
    if (refusal) throw new BlockedError(`${refusal} Nothing was changed.`);
  }

  /** Secret, ConfigMap, Deployments and rollout; then the other writers get their replicas back. */
  private async applyAndThaw(paths: ConvertPaths, credentials: DifyS3Keys): Promise<ConvertResult> {
    const { phase } = this.config;
    this.step('Applying: Secret, ConfigMap, Deployments, rollout');
    const applied = await this.apply(credentials);
    // The other writers come back only once api and worker run on the bucket.
    await unfreezeOthers(this.client, {
      namespace: this.namespace,
      writers: otherStorageWriters(this.inspection!),
      logger: this.kubeLog,
      journal: new Journal(this.record),
    });
    if (!applied.noop && this.freezeStartedAt !== undefined) {
      this.freezeSeconds = round1((Date.now() - this.freezeStartedAt) / 1000);
      this.log.info(
        `Write-freeze window (freeze → Deployments available): ${this.freezeSeconds} s`,
      );
    }
    return this.done(
      paths,
      !this.mutationStarted,
      this.mutationStarted
        ? `${applied.message}${phase === 'cutover' ? ' after the final delta copy' : ''}`
        : `namespace "${this.namespace}" is already converted to S3: nothing changed (no-op)`,
    );
  }

  private async releaseLock(lock: LockHandle): Promise<void> {
    await releaseLock(this.client, lock).then(
      (released) => {
        if (released) this.log.info('Released the migration lock');
      },
      (error: unknown) =>
        this.log.warn(
          `Could not release the migration lock (it expires after ${this.config.lockTtlSeconds} s): ${errorMessage(error)}`,
        ),
    );
  }

  private credentials(): DifyS3Keys {
    if (!this.config.difyKeys) throw new ConfigurationError(this.config.difyKeysMissing!);
    return this.config.difyKeys;
  }

  private async checkStoragePath(): Promise<void> {
    const dir = this.source!;
    const s = await stat(dir).catch((error: unknown) => {
      throw new ConfigurationError(
        `The storage path '${dir}' for the final delta copy cannot be read: ${errorMessage(error)}`,
      );
    });
    if (!s.isDirectory())
      throw new ConfigurationError(`The storage path '${dir}' is not a directory.`);
  }

  /**
   * The bucket must be reachable before the freeze: a copy that cannot start would only prolong
   * it. The cutover also proves it can write (put and delete a probe object): the plan cannot,
   * it holds no write keys.
   */
  private async checkBucket(required: boolean): Promise<void> {
    let transport: S3Transport | undefined;
    try {
      transport = new S3Transport(this.config.s3);
      // The plan's read-only check (it names an endpoint that is not S3), then the write probe.
      await checkBucketReadable(transport, this.config.s3.region);
      if (required) await writeProbe(transport, this.config.runId);
    } catch (error) {
      const message = `bucket "${this.config.s3.bucket}" is not usable from here: ${errorMessage(error)}`;
      if (required) {
        // Unreachable, refused or an untrusted certificate: could not check (exit 4), not usage.
        const unreachable = (error as { outcome?: string }).outcome === 'could-not-check';
        const Refusal = unreachable ? CouldNotCheckError : ConfigurationError;
        throw new Refusal(`${message} (checked before the freeze)`, { cause: error });
      }
      this.log.warn(`${message}; Dify will need to reach it from the cluster`);
    } finally {
      transport?.close();
    }
  }

  /**
   * Before the freeze: a short-lived pod, scheduled like the converted api, must reach an https
   * endpoint and trust its certificate with the given CA, or nothing is frozen.
   */
  private async probeFromPod(): Promise<void> {
    const settings = cutoverSettings(this.config);
    if (!settings.endpoint.startsWith('https://')) return;
    const i = this.inspection!;
    const template = desiredDeployment(i, i.api, settings) ?? i.api.deployment;
    if (!template) {
      this.log.warn(
        `No api workload to probe ${settings.endpoint} with; the pods' trust of its certificate is unchecked`,
      );
      return;
    }
    this.step('Probing the S3 endpoint from a pod (before the freeze)');
    const said = await probeEndpointFromPod(this.client, {
      namespace: this.namespace,
      template,
      endpoint: settings.endpoint,
      ...(this.config.s3.caBundle ? { caBundle: this.config.s3.caBundle } : {}),
      timeoutMs: this.config.rolloutTimeoutSeconds * 1000,
      intervalMs: Math.min(this.interval, 1000),
      logger: this.kubeLog,
    });
    this.log.info(`Probe pod: ${said}`);
  }

  private async makePlan(
    paths: { planPath: string; planJsonPath: string },
    accept: string[],
  ): Promise<CutoverPlan> {
    const inspection = await inspectInstall(this.client, this.installNames());
    const plan = planCutover(inspection, {
      ...cutoverSettings(this.config),
      acceptFindings: accept,
    });
    if (this.config.phase === 'plan') {
      const extra = [
        await bucketFinding(this.config),
        difyKeysFinding(this.config),
        await treesFinding(inspection, this.config.storagePath),
      ];
      for (const finding of extra) {
        if (!finding) continue;
        plan.findings.push(finding);
        if (finding.severity === 'blocker') plan.blockers.push(finding);
      }
    }
    this.plan = plan;
    this.planMarkdown = renderPlanMarkdown(plan);
    if (this.config.databaseUrl && this.config.storagePath) {
      const refs = await referencesPlanSection(this.config.databaseUrl, this.config.storagePath);
      this.planMarkdown += `\n${refs.markdown}`;
      this.log.info(refs.report.summary);
    }
    if (this.config.phase === 'plan')
      this.planMarkdown += `\n${await freezeWindowSection(this.config, inspection)}`;
    this.inspection = inspection;
    this.planHashValue = this.hashPlan(inspection);
    if (this.planHashValue)
      this.planMarkdown += `\nPlan hash: \`${this.planHashValue}\` (approving by dispatch: pass it as \`approved-plan-hash\`; the cutover refuses a cluster that changed since).\n`;
    await writeTextAtomic(paths.planPath, this.planMarkdown);
    await writeJsonAtomic(paths.planJsonPath, plan);
    this.planFiles = { planPath: paths.planPath, planJsonPath: paths.planJsonPath };
    for (const f of plan.findings) {
      const line = `${f.severity}: ${f.code}: ${f.message}`;
      if (f.severity === 'info') this.log.info(line);
      else this.log.warn(line);
    }
    this.log.info(`Plan written to ${paths.planPath} (and ${paths.planJsonPath})`);
    return plan;
  }

  /** The plan hash; a plan without a usable state directory goes on without one (warned). */
  private hashPlan(inspection: InstallInspection): string | undefined {
    try {
      return planHash(inspection, this.config.stateDir);
    } catch (error) {
      if (this.config.approvedPlanHash) throw error;
      this.log.warn(
        `no plan hash (its key lives in ${this.config.stateDir}): ${errorMessage(error)}`,
      );
      return undefined;
    }
  }

  private async freeze(plan: CutoverPlan): Promise<void> {
    const i = this.inspection!;
    const withSts = [i.api, i.worker].filter((w) => w.statefulSet);
    if (withSts.length === 0) {
      this.log.info(`No StatefulSet left in "${plan.namespace}": nothing to freeze`);
      return;
    }
    const started = Date.now();
    const journal = new Journal(this.record);
    const replicas: Record<string, number> = {};
    // Beside a Deployment of the same name (an earlier apply stopped half way) the label selector
    // also matches the Deployment's pods, which keep running: only the StatefulSet's own pods count.
    const alone: WorkloadRef[] = withSts
      .filter((w) => w.state === 'statefulset')
      .map((w) => ({ kind: 'StatefulSet', name: w.name }));
    if (alone.length) {
      const result = await scaleToZeroAndWait(this.client, {
        namespace: this.namespace,
        workloads: alone,
        timeoutMs: this.config.rolloutTimeoutSeconds * 1000,
        intervalMs: this.interval,
        logger: this.kubeLog,
        journal,
      });
      Object.assign(replicas, result.replicas);
    }
    for (const w of withSts.filter((x) => x.state === 'both')) {
      replicas[w.name] = await this.freezeBesideDeployment(w.statefulSet!, journal);
    }
    const writers = otherStorageWriters(i);
    if (writers.length) {
      this.step(
        `Freezing the other storage writers: ${writers.map((w) => `${w.kind}/${w.name}`).join(', ')}`,
      );
      await freezeOthers(this.client, {
        namespace: this.namespace,
        writers,
        timeoutMs: this.config.rolloutTimeoutSeconds * 1000,
        intervalMs: this.interval,
        logger: this.kubeLog,
        journal,
      });
    }
    this.replicas = replicas;
    // A freeze that changed nothing continues an earlier one: its window started then.
    const earlier = this.mutationStarted ? undefined : await lastFreezeStart(this.changesPath);
    this.freezeStartedAt = earlier ?? started;
    this.log.info(
      `Frozen after ${round1((Date.now() - started) / 1000)} s; original replicas: ${Object.entries(
        replicas,
      )
        .map(([n, r]) => `${n}=${r}`)
        .join(', ')}`,
    );
  }

  /** Scales a StatefulSet to zero and waits for the pods it owns; returns its original count. */
  private async freezeBesideDeployment(sts: Workload, journal: Journal): Promise<number> {
    const name = sts.metadata?.name ?? '';
    const uid = sts.metadata?.uid;
    const current = sts.spec?.replicas ?? 1;
    const remembered = Number(sts.metadata?.annotations?.[ORIGINAL_REPLICAS_ANNOTATION]);
    const path = objectPath('StatefulSet', this.namespace, name);
    if (current > 0) {
      await this.client.patch(path, {
        metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: String(current) } },
      });
      journal.record(
        'annotated',
        'StatefulSet',
        name,
        `${ORIGINAL_REPLICAS_ANNOTATION}=${current}`,
      );
      await scaleWorkload(this.client, this.namespace, { kind: 'StatefulSet', name }, 0);
      journal.record('scaled', 'StatefulSet', name, `replicas ${current} → 0`);
      this.log.info(`Scaled StatefulSet/${name} from ${current} to 0 replicas`);
    }
    const matchLabels = sts.spec?.selector?.matchLabels ?? {};
    let left: Pod[] = [];
    await pollUntil(
      async () => {
        const pods = await this.client.list<Pod>('Pod', this.namespace, {
          labelSelector: labelSelectorString(matchLabels),
        });
        left = pods.filter((p) =>
          ((p.metadata?.ownerReferences ?? []) as { uid?: string; kind?: string }[]).some(
            (r) => r.uid === uid && r.kind === 'StatefulSet',
          ),
        );
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: this.config.rolloutTimeoutSeconds * 1000, intervalMs: this.interval },
      () =>
        new KubeStateError(
          `timed out after ${this.config.rolloutTimeoutSeconds}s waiting for the pods of StatefulSet/${name} to terminate; still present: ${left.map((p) => p.metadata?.name).join(', ')}`,
        ),
    );
    if (current > 0) return current;
    return Number.isInteger(remembered) && remembered > 0 ? remembered : 0;
  }

  /**
   * Under the freeze: every storage tree's last changes to the bucket (compared again first: a key
   * in two trees with different content stops here, nothing applied), then the key fix-up.
   */
  private async deltaCopy(): Promise<void> {
    const trees = this.trees ?? [];
    const refusal = conflictRefusal(await compareTrees(trees));
    if (refusal) {
      throw new BlockedError(
        `${refusal} Nothing was applied (api and worker stay at zero replicas; re-run the cutover once resolved, or roll back).`,
      );
    }
    const reports: SyncReport[] = [];
    for (const [n, tree] of trees.entries()) {
      const report = await this.deltaOfTree(tree, n === 0, reports);
      if (n > 0) this.log.info(`${tree.label}'s tree (${tree.dir}):`);
      this.log.info(formatSummary(report));
      reports.push(report);
    }
    this.delta = deltaSummary(reports);
    if (this.config.databaseUrl) {
      const fixUp = await fixUpKeys({
        databaseUrl: this.config.databaseUrl,
        root: this.source!,
        target: this.config.s3,
        dryRun: false,
      });
      this.log.info(formatKeyFixUp(fixUp));
      if (fixUp.failed.length)
        throw new Error(
          `the key fix-up after the final delta copy failed for ${fixUp.failed.length} key(s), so nothing was applied (re-run the cutover, or roll back): ${formatKeyFixUp(fixUp)}`,
        );
    }
    if (this.delta.unsupported > 0) {
      this.log.warn(
        `${this.delta.unsupported} file(s) could not be copied (unsupported: symlinks, sockets, unreadable); see the summary above`,
      );
    }
  }

  /**
   * One tree's delta. The primary's starts from the bulk copy's journal and prunes by directory
   * times; another tree's has a state of its own and is walked whole (the database names the api's
   * uploads only, so pruning would have no second guard there).
   */
  private async deltaOfTree(
    tree: StorageTree,
    primary: boolean,
    before: SyncReport[],
  ): Promise<SyncReport> {
    try {
      return await syncToBucket({
        target: this.config.s3,
        root: tree.dir,
        // migrate-to-s3's state directory: the delta starts from the bulk copy's journal.
        stateDir: primary ? this.config.stateDir : treeStateDir(this.config.stateDir, tree),
        mode: 'delta',
        delta: primary ? deltaOptions(this.inspection!, this.config.databaseUrl) : { prune: false },
      });
    } catch (error) {
      const failed = (error as { report?: SyncReport }).report;
      if (failed?.counts) this.delta = deltaSummary([...before, failed]);
      const which = (this.trees?.length ?? 1) > 1 ? ` of ${tree.label}'s tree` : '';
      throw new Error(
        `the final delta copy${which} failed, so nothing was applied (api and worker stay at zero replicas; re-run the cutover, or roll back): ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  private async apply(credentials: DifyS3Keys) {
    try {
      return await applyCutover(this.client, {
        ...this.installNames(),
        settings: cutoverSettings(this.config),
        credentials,
        ...(this.replicas ? { replicas: this.replicas } : {}),
        rolloutTimeoutMs: (this.config.rolloutTimeoutSeconds + 60) * 1000,
        pollIntervalMs: this.interval,
        logger: this.kubeLog,
        onJournal: this.record,
      });
    } catch (error) {
      // The journal already reached us entry by entry; the error's list would repeat it.
      if (error instanceof JournaledError && error.cause instanceof Error) {
        throw new Error(`cutover apply failed: ${error.cause.message}`, { cause: error });
      }
      throw error;
    }
  }

  /** Renews the lease every third of its lifetime, so a long delta copy keeps it. */
  private keepRenewing(lock: LockHandle): () => void {
    const every = Math.max(10, Math.floor(this.config.lockTtlSeconds / 3)) * 1000;
    const timer = setInterval(() => {
      renewLock(this.client, lock).catch((error: unknown) =>
        this.log.warn(`Could not renew the migration lock: ${errorMessage(error)}`),
      );
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }
}

/** The LockHeldError behind a failure, if another run held the lock. */
export function lockHolderOf(error: unknown): LockHeldError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof LockHeldError) return e;
  }
  return undefined;
}

/** The plan's read-only look at the bucket: it exists, the credentials can list it, the region fits. */
async function bucketFinding(config: ConvertConfig): Promise<Finding> {
  const where = `bucket "${config.s3.bucket}"${config.s3.endpoint ? ` at ${config.s3.endpoint}` : ''}`;
  const transport = new S3Transport(config.s3);
  try {
    await checkBucketReadable(transport, config.s3.region);
    // The bucket will hold privkeys/<tenant>/private.pem: anyone-readable blocks the cutover.
    const exposure = await publicExposure(transport).catch((e: unknown) => [
      `(its ACL and policy could not be read: ${errorMessage(e)})`,
    ]);
    if (exposure.length > 0 && !exposure[0]!.startsWith('(')) {
      return {
        code: 'bucket-public',
        severity: 'blocker',
        message: `${where} is readable by anyone and will hold Dify's tenant private keys: ${exposure.join('; ')}. Make it private first.`,
      };
    }
    return {
      code: 'bucket-ok',
      severity: 'info',
      message: `${where} exists, the credentials can list it, its region fits ${config.s3.region}, ${exposure.length ? `public access not checked ${exposure[0]}` : 'and it is not public'} (read-only check; the cutover proves it can write before the freeze). Advice: turn on default encryption and versioning.`,
    };
  } catch (error) {
    if (error instanceof NoCredentialsError) {
      return {
        code: 'bucket-not-checked',
        severity: 'warning',
        message: `${where} was not checked: ${error.message} (the cutover checks it before the freeze)`,
      };
    }
    return { code: 'bucket-unusable', severity: 'blocker', message: errorMessage(error) };
  } finally {
    transport.close();
  }
}

/** The plan blocks when there are no static keys to write into Dify's Secret. */
function difyKeysFinding(config: ConvertConfig): Finding | undefined {
  if (config.difyKeys) return undefined;
  return { code: 'dify-keys-missing', severity: 'blocker', message: config.difyKeysMissing! };
}

/**
 * Several storage trees (shapes 3 and 4): whether this runner sees them all, and what each holds
 * that the earlier ones do not. A key in two trees with different content blocks the cutover.
 */
async function treesFinding(
  inspection: InstallInspection,
  storagePath: string | undefined,
): Promise<Finding | undefined> {
  if (!hasSeveralTrees(inspection)) return undefined;
  const primary = storagePath ?? inspection.api.volumes[0]?.path;
  if (!primary) {
    return {
      code: 'trees-not-compared',
      severity: 'warning',
      message:
        'The storage trees were not compared: no storage-path on this runner. Backup and cutover compare them and refuse a key in two trees with different content.',
    };
  }
  const { trees, problems } = await locateTrees(inspection, primary);
  if (problems.length) {
    return {
      code: 'trees-not-visible',
      severity: 'warning',
      message: `Backup and cutover must read every storage tree, and this runner cannot: ${problems.join(' ')}`,
    };
  }
  const comparisons = await compareTrees(trees);
  const refusal = conflictRefusal(comparisons);
  const list = trees.map((t) => `${t.label}: ${t.volume} (here ${t.dir})`).join('; ');
  return {
    code: refusal ? 'tree-conflicts' : 'several-trees',
    severity: refusal ? 'blocker' : 'info',
    message: `${trees.length} storage trees, all backed up, copied to the bucket, delta-copied under the freeze and restored by a rollback: ${list}. ${refusal ?? describeComparison(comparisons)}`,
  };
}

/** Puts and deletes one small object: the credentials can write where the delta copy will. */
async function writeProbe(transport: S3Transport, runId: string): Promise<void> {
  const key = `.dify-storage-write-probe-${runId.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  const body = Buffer.from('dify-storage write probe\n');
  try {
    await transport.putObject(key, body, createHash('md5').update(body).digest(), {});
  } catch (error) {
    throw new CouldNotCheckError(
      `the credentials cannot write to bucket "${transport.bucket}" (a probe object was refused): ${errorMessage(error)}`,
    );
  }
  await transport.deleteObject(key);
}

/**
 * Directory-mtime pruning only on node-local storage (hostPath, local PV): on NFS another
 * client's writes and attribute caching defeat it (issue 17 §4). The database names the uploads
 * and new tenants' keys created since the bulk copy, whose directories are listed in any case.
 */
function deltaOptions(i: InstallInspection, databaseUrl: string | undefined): DeltaOptions {
  return {
    prune: storageIsNodeLocal(i),
    ...(databaseUrl
      ? {
          namedSince: async (since: Date) => {
            const c = await createdSince(databaseUrl, since);
            return [
              ...c.uploads.map((u) => normalizeFsPath(u.key)),
              ...c.tenants.map((t) => `privkeys/${t}/private.pem`),
            ];
          },
        }
      : {}),
  };
}

/** The delta's figures, summed over the trees (scan and text of each, the primary's first). */
function deltaSummary(reports: SyncReport[]): DeltaSummary {
  const sum = (f: (r: SyncReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const first = reports[0]!;
  return {
    ok: reports.every((r) => r.ok),
    files: sum((r) => r.counts.files),
    copied: sum((r) => r.counts.copied),
    skipped: sum((r) => r.counts.skipped),
    failed: sum((r) => r.counts.failed),
    unsupported: sum((r) => r.counts.unsupported),
    bytesCopied: sum((r) => r.bytes.copied),
    durationMs: sum((r) => r.durationMs),
    ...(first.delta ? { scan: first.delta, scanText: formatDeltaScan(first.delta) } : {}),
    text: reports.map((r) => formatSummary(r)).join('\n'),
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

const writeTextAtomic = writeFileAtomic;

async function readChanges(file: string): Promise<ChangesFile> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<ChangesFile>;
    return { runs: Array.isArray(parsed.runs) ? parsed.runs : [] };
  } catch {
    return { runs: [] };
  }
}

async function appendRun(file: string, record: RunRecord): Promise<void> {
  const history = await readChanges(file);
  history.runs = [...history.runs, record].slice(-HISTORY_LIMIT);
  await writeJsonAtomic(file, history);
}

/** When the freeze in effect started: the latest earlier run that scaled the workloads down. */
async function lastFreezeStart(file: string): Promise<number | undefined> {
  const { runs } = await readChanges(file);
  for (let i = runs.length - 1; i >= 0; i--) {
    const run = runs[i]!;
    if (run.freezeStartedAt && (run.changes ?? []).some((c) => c.action === 'scaled')) {
      const t = Date.parse(run.freezeStartedAt);
      return Number.isNaN(t) ? undefined : t;
    }
  }
  return undefined;
}
