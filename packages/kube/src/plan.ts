import {
  s3ConfigMapPatch,
  s3StorageEnv,
  S3_CREDENTIAL_KEYS,
  type ConfigMapKeyChange,
  type S3StorageSettings,
} from './configmap.js';
import { CA_BUNDLE_CONFIGMAP, CA_BUNDLE_ENV, CA_BUNDLE_PATH } from './ca-bundle.js';
import { statefulSetToDeployment, type ConversionOptions } from './convert.js';
import { diffJson, redactChanges, redactDeep, REDACTED, type FieldChange } from './diff.js';
import {
  describeVolume,
  inspectionEnvLookup,
  type Finding,
  type InstallInspection,
  type WorkloadInspection,
} from './inspect.js';
import { detectLocalState } from './local-state.js';
import {
  settingSources,
  storageSafetyFindings,
  type SafetyInput,
  type SettingSource,
} from './storage-safety.js';
import {
  SETTINGS_SECRET_UNUSABLE,
  settingsSecretPatch,
  settingsSecretProblem,
} from './settings-secret.js';
import { versionFindings } from './versions.js';
import { otherWorkloadFindings } from './other-workloads.js';
import { sanitizeObject } from './sanitize.js';
import type { Workload } from './types.js';
import type { ResolvedVolume } from './volumes.js';

export const DEFAULT_SECRET_NAME = 'dify-s3-credentials';

export interface CutoverSettings extends S3StorageSettings {
  /** Secret that will hold S3_ACCESS_KEY / S3_SECRET_KEY. */
  secretName?: string;
  progressDeadlineSeconds?: number;
  /** Finding codes the operator has accepted: they no longer block. */
  acceptFindings?: string[];
  /** PEM of a private CA the endpoint's certificate chains to: mounted into api and worker. */
  caBundle?: string;
  /** Dify versions (image tags) other than 1.3.x the operator allows (`allow-version`). */
  allowVersions?: string[];
  /** The Secret that holds storage settings and receives the S3 ones (`settings-secret`). */
  settingsSecret?: string;
}

export interface WorkloadPlan {
  role: 'api' | 'worker';
  name: string;
  /** convert: STS → Deployment; finish: the Deployment exists, the STS is still to delete; none. */
  action: 'convert' | 'finish' | 'none';
  replicas?: number;
  /** Field-by-field change from the StatefulSet to the Deployment (secret values redacted). */
  changes: FieldChange[];
}

export interface CutoverPlan {
  namespace: string;
  storageMountPath: string;
  node?: string;
  findings: Finding[];
  /** Findings that stop apply (blockers not accepted). */
  blockers: Finding[];
  /** Nothing left to change. */
  noop: boolean;
  secret: { name: string; keys: string[] };
  configMap?: {
    name: string;
    changes: ConfigMapKeyChange[];
    removedCredentialKeys: string[];
  };
  /** The operator's Secret holding storage settings, and what the cutover writes there. */
  settingsSecret?: { name: string; changes: ConfigMapKeyChange[] };
  /** Each storage setting of each converted container: its value and source now and after. */
  settingSources: SettingSource[];
  workloads: WorkloadPlan[];
  /** Where each workload's files are (volume type, node, path), as the cutover resolved them. */
  storage: { workload: string; volumes: ResolvedVolume[] }[];
  /** The private CA bundle the cutover puts in a ConfigMap and mounts (no secret in it). */
  caBundle?: { configMap: string; path: string; certificates: number; env: string[] };
}

/** Options of the conversion for one workload of an inspected install. */
export function conversionOptions(
  inspection: InstallInspection,
  workload: WorkloadInspection,
  settings: CutoverSettings,
): ConversionOptions {
  const storage = workload.storage;
  return {
    storageMountPath: inspection.storageMountPath,
    hostPathVolumeName: storage?.volumeName ?? '',
    secretName: settings.secretName ?? DEFAULT_SECRET_NAME,
    ...(settings.progressDeadlineSeconds !== undefined
      ? { progressDeadlineSeconds: settings.progressDeadlineSeconds }
      : {}),
    ...(inspection.storageConfigMap ? { storageConfigMapName: inspection.storageConfigMap } : {}),
    inlineStorageEnv: s3StorageEnv(settings),
    ...(settings.caBundle ? { caBundle: true } : {}),
    ...(settings.settingsSecret ? { settingsSecretName: settings.settingsSecret } : {}),
  };
}

/**
 * Computes every change the cutover would make, from an inspection; changes nothing. The plan
 * holds no secret values (ConfigMap and env values under secret-looking names are redacted).
 */
export function planCutover(inspection: InstallInspection, settings: CutoverSettings): CutoverPlan {
  s3StorageEnv(settings); // validates the settings before anything else
  const accepted = new Set(settings.acceptFindings ?? []);
  const blockers = inspection.findings.filter(
    (f) => f.severity === 'blocker' && !accepted.has(f.code),
  );
  const secretName = settings.secretName ?? DEFAULT_SECRET_NAME;
  const plan: CutoverPlan = {
    namespace: inspection.namespace,
    storageMountPath: inspection.storageMountPath,
    ...(inspection.node ? { node: inspection.node } : {}),
    findings: inspection.findings,
    blockers,
    noop: false,
    secret: { name: secretName, keys: [...S3_CREDENTIAL_KEYS] },
    workloads: [],
    settingSources: [],
    storage: [inspection.api, inspection.worker]
      .filter((w) => w.volumes.length)
      .map((w) => ({ workload: w.name, volumes: w.volumes })),
    ...caBundlePlan(settings.caBundle),
  };
  const cmInfo = inspection.configMaps.find((c) => c.name === inspection.storageConfigMap);
  const patchedConfigMaps: Record<string, Record<string, string>> = {};
  if (cmInfo?.object) {
    const result = s3ConfigMapPatch(cmInfo.object, settings);
    patchedConfigMaps[cmInfo.name] = result.data;
    plan.configMap = {
      name: cmInfo.name,
      changes: result.changes.map((c) => redactKeyChange(c)),
      removedCredentialKeys: result.removedCredentialKeys,
    };
  }
  const patchedSecrets: Record<string, Record<string, string>> = {
    [secretName]: Object.fromEntries(S3_CREDENTIAL_KEYS.map((k) => [k, REDACTED])),
  };
  const secretFinding = planSettingsSecret(inspection, settings, plan, patchedSecrets);
  const converted: SafetyInput[] = [];
  for (const w of [inspection.api, inspection.worker]) {
    if (w.statefulSet && w.storage) {
      const options = conversionOptions(inspection, w, settings);
      const deployment = statefulSetToDeployment(w.statefulSet, options);
      converted.push({ workload: w, deployment, options });
      plan.workloads.push({
        role: w.role,
        name: w.name,
        action: w.state === 'both' ? 'finish' : 'convert',
        ...(w.replicas !== undefined ? { replicas: w.replicas } : {}),
        changes: redactChanges(diffJson(sanitizeObject(w.statefulSet), deployment)),
      });
    } else {
      plan.workloads.push({ role: w.role, name: w.name, action: 'none', changes: [] });
    }
  }
  // The safety rule cannot be accepted away: it is what keeps files from landing on an emptyDir.
  const before = inspectionEnvLookup(inspection);
  const after = inspectionEnvLookup(inspection, {
    ConfigMap: patchedConfigMaps,
    Secret: patchedSecrets,
  });
  const unsafe = [
    ...secretFinding,
    ...storageSafetyFindings(converted, s3StorageEnv(settings), secretName, before, after),
  ];
  plan.settingSources = settingSources(converted, s3StorageEnv(settings), before, after);
  const local = [
    ...localStateFindings(inspection, settings),
    ...versionFindings(inspection, settings.allowVersions),
    ...otherWorkloadFindings(inspection, plan.configMap),
  ];
  plan.findings = [...plan.findings, ...unsafe, ...local];
  plan.blockers.push(
    ...unsafe,
    ...local.filter((f) => f.severity === 'blocker' && !accepted.has(f.code)),
  );
  plan.noop = inspection.converted && (!plan.configMap || plan.configMap.changes.length === 0);
  return plan;
}

/** The named settings Secret's planned change (settings-secret.ts), or why it cannot carry it. */
function planSettingsSecret(
  inspection: InstallInspection,
  settings: CutoverSettings,
  plan: CutoverPlan,
  patched: Record<string, Record<string, string>>,
): Finding[] {
  const name = settings.settingsSecret;
  // Converted already: the Secret was written by that cutover, nothing is left to plan.
  if (!name || [inspection.api, inspection.worker].every((w) => !w.statefulSet)) return [];
  const patch = settingsSecretPatch(inspection, name, s3StorageEnv(settings));
  if (!patch) {
    const message = settingsSecretProblem(inspection, name);
    return [{ code: SETTINGS_SECRET_UNUSABLE, severity: 'blocker', message }];
  }
  patched[name] = patch.data;
  plan.settingsSecret = { name, changes: patch.changes.map((c) => redactKeyChange(c)) };
  return [];
}

/** The private CA's ConfigMap, mount and env, when the endpoint needs one. */
function caBundlePlan(caBundle: string | undefined): Pick<CutoverPlan, 'caBundle'> {
  if (!caBundle) return {};
  return {
    caBundle: {
      configMap: CA_BUNDLE_CONFIGMAP,
      path: CA_BUNDLE_PATH,
      certificates: caBundle.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0,
      env: Object.keys(CA_BUNDLE_ENV),
    },
  };
}

/** State besides the storage tree that the cutover would lose or leave on the node (local-state.ts). */
function localStateFindings(inspection: InstallInspection, settings: CutoverSettings): Finding[] {
  const lookup = inspectionEnvLookup(inspection);
  return detectLocalState({
    storageMountPath: inspection.storageMountPath,
    converted: [inspection.api, inspection.worker].flatMap((w) =>
      w.statefulSet ? [{ workload: w.statefulSet, storageVolumeName: w.storage?.volumeName }] : [],
    ),
    others: inspection.others.workloads,
    lookup: (kind, name) =>
      lookup(kind, name) ?? (kind === 'ConfigMap' ? inspection.others.configMaps[name] : undefined),
    s3: settings,
  });
}

function redactKeyChange(change: ConfigMapKeyChange): ConfigMapKeyChange {
  const shown = (v: string | undefined) =>
    redactDeep({ name: change.key, value: v }) as { value?: string };
  return {
    ...change,
    ...(change.before !== undefined ? { before: shown(change.before).value } : {}),
    ...(change.after !== undefined ? { after: shown(change.after).value } : {}),
  };
}

const SEVERITY_ICON = { blocker: '⛔ blocker', warning: '⚠️ warning', info: 'ℹ️ info' } as const;

/** The plan as Markdown for a job summary: findings, then each object's change. No secret values. */
export function renderPlanMarkdown(plan: CutoverPlan): string {
  const out: string[] = [];
  out.push(`## Cutover plan for namespace \`${plan.namespace}\``, '');
  if (plan.node)
    out.push(
      `Node holding the files: \`${plan.node}\` (storage path \`${plan.storageMountPath}\`)`,
      '',
    );
  if (plan.storage.length) {
    out.push('### Storage', '');
    for (const s of plan.storage) {
      for (const v of s.volumes) {
        const ordinal = v.ordinal !== undefined ? ` (pod ordinal ${v.ordinal})` : '';
        const from = v.nodeFrom ? ` (node from ${v.nodeFrom})` : '';
        out.push(`- \`${s.workload}\`${ordinal}: ${describeVolume(v)}${from}`);
      }
    }
    out.push('');
  }
  if (plan.noop) out.push('**Already converted: nothing to change.**', '');
  else if (plan.blockers.length)
    out.push(`**Apply is blocked by ${plan.blockers.length} finding(s) below.**`, '');
  if (plan.findings.length) {
    out.push('### Findings', '');
    for (const f of plan.findings)
      out.push(`- ${SEVERITY_ICON[f.severity]} \`${f.code}\`: ${f.message}`);
    out.push('');
  }
  if (!plan.noop) {
    out.push(`### Secret \`${plan.secret.name}\` (create or update)`, '');
    out.push(
      `Keys: ${plan.secret.keys.map((k) => `\`${k}\``).join(', ')} (values are never shown).`,
      '',
    );
  }
  if (plan.caBundle && !plan.noop) {
    const ca = plan.caBundle;
    out.push(`### ConfigMap \`${ca.configMap}\` (create or update)`, '');
    out.push(
      `The private CA (${ca.certificates} certificate(s)) followed by the public roots, mounted read-only at \`${ca.path}\` in the containers that use the storage; ${ca.env.map((e) => `\`${e}\``).join(' and ')} point at it, so boto3 in Dify trusts the endpoint. Rollback deletes it.`,
      '',
    );
  }
  if (plan.configMap) {
    out.push(
      `### ConfigMap \`${plan.configMap.name}\``,
      '',
      ...keyChangeTable(plan.configMap.changes),
    );
    if (plan.configMap.removedCredentialKeys.length) {
      out.push(
        `Credentials found in the ConfigMap and removed: ${plan.configMap.removedCredentialKeys.join(', ')} (they come from the Secret).`,
        '',
      );
    }
  }
  if (plan.settingsSecret) out.push(...settingsSecretLines(plan.settingsSecret));
  if (plan.settingSources.length) out.push(...settingSourceLines(plan.settingSources));
  for (const w of plan.workloads) {
    if (w.action === 'none') continue;
    out.push(
      `### StatefulSet \`${w.name}\` → Deployment \`${w.name}\`${w.replicas !== undefined ? ` (${w.replicas} replica(s))` : ''}`,
      '',
    );
    if (w.action === 'finish')
      out.push(
        'The Deployment already exists; the StatefulSet is deleted once it is rolled out.',
        '',
      );
    out.push('```diff');
    for (const c of w.changes) out.push(...diffLines(c));
    out.push('```', '');
  }
  return out.join('\n');
}

function keyChangeTable(changes: ConfigMapKeyChange[]): string[] {
  if (changes.length === 0) return ['No change.', ''];
  return [
    '| key | change | before | after |',
    '|---|---|---|---|',
    ...changes.map((c) => `| \`${c.key}\` | ${c.change} | ${cell(c.before)} | ${cell(c.after)} |`),
    '',
  ];
}

function settingsSecretLines(s: NonNullable<CutoverPlan['settingsSecret']>): string[] {
  return [
    `### Secret \`${s.name}\` (storage settings, named in settings-secret)`,
    '',
    'The storage settings live here, so the cutover writes them here; its other keys stay as they are, and rollback puts the whole Secret back from the backup (kept on the node only).',
    '',
    ...keyChangeTable(s.changes),
  ];
}

function settingSourceLines(rows: CutoverPlan['settingSources']): string[] {
  const at = (v: { value: string; from: string } | undefined) =>
    v ? `${cell(v.value)} from ${v.from}` : 'unset';
  return [
    '### Where each storage setting comes from',
    '',
    '| workload / container | key | now | after the cutover |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| \`${r.workload}\` / \`${r.container}\` | \`${r.key}\` | ${at(r.before)} | ${at(r.after)} |`,
    ),
    '',
  ];
}

function cell(value: string | undefined): string {
  if (value === undefined) return '';
  return `\`${value.replace(/\|/g, '\\|').replace(/`/g, "'").replace(/\n/g, ' ')}\``;
}

function diffLines(c: FieldChange): string[] {
  const show = (v: unknown): string => JSON.stringify(v)?.replace(/```/g, "'''") ?? 'undefined';
  if (c.change === 'added') return [`+ ${c.path}: ${show(c.after)}`];
  if (c.change === 'removed') return [`- ${c.path}: ${show(c.before)}`];
  return [`- ${c.path}: ${show(c.before)}`, `+ ${c.path}: ${show(c.after)}`];
}

/** The Deployment the cutover creates for a workload (used by apply; holds real env values). */
export function desiredDeployment(
  inspection: InstallInspection,
  workload: WorkloadInspection,
  settings: CutoverSettings,
): Workload | undefined {
  if (!workload.statefulSet || !workload.storage) return undefined;
  return statefulSetToDeployment(
    workload.statefulSet,
    conversionOptions(inspection, workload, settings),
  );
}
