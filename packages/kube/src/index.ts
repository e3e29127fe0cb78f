export {
  KubeClient,
  type KubeClientOptions,
  type PatchType,
  type PropagationPolicy,
  type RequestOptions,
} from './client.js';
export {
  KubeApiError,
  KubeStateError,
  KubeUnreachableError,
  RolloutFailedError,
  isAlreadyExists,
  isConflict,
  isNotFound,
  type StatusCause,
} from './errors.js';
export {
  KINDS,
  describeRef,
  labelSelectorString,
  objectPath,
  persistentVolumePath,
  type KindName,
} from './paths.js';
export {
  LAST_APPLIED_ANNOTATION,
  isSubset,
  jsonEqual,
  sanitizeObject,
  secretDigest,
  type SecretDigest,
} from './sanitize.js';
export {
  readSettingsSecrets,
  renderYaml,
  snapshotObjects,
  type ObjectRef,
  type ObjectSnapshot,
  type SnapshotRequest,
} from './snapshot.js';
export {
  S3_CREDENTIAL_KEYS,
  isConfigMapConverted,
  isLocalStorageKey,
  s3ConfigMapPatch,
  s3StorageEnv,
  type AddressStyle,
  type ConfigMapKeyChange,
  type S3ConfigMapResult,
  type S3StorageSettings,
} from './configmap.js';
export {
  CONVERTED_FROM_ANNOTATION,
  HOSTNAME_LABEL,
  describePinning,
  mapUpdateStrategy,
  STORAGE_SETTING_KEYS,
  removeHostnamePinning,
  statefulSetToDeployment,
  usesStorageSettings,
  type ConversionOptions,
} from './convert.js';
export {
  REDACTED,
  diffJson,
  looksSecret,
  redactChanges,
  redactDeep,
  type FieldChange,
} from './diff.js';
export { NON_SECRET_KEYS, Redactor, stripUserinfo } from './redact.js';
export {
  describeEnvSource,
  effectiveEnv,
  type EffectiveEnv,
  type EffectiveEnvVar,
  type EnvObjectLookup,
  type EnvSource,
} from './env.js';
export { EnvObjects, envObjectRefs } from './env-objects.js';
export {
  otherStorageWriters,
  otherWorkloadFindings,
  type StorageWriter,
} from './other-workloads.js';
export { freezeOthers, ORIGINAL_SUSPEND_ANNOTATION, unfreezeOthers } from './freeze-others.js';
export { UNSUPPORTED_VERSION, imageTag, versionFindings } from './versions.js';
export {
  STORAGE_OVERRIDDEN,
  settingSources,
  storageSafetyFindings,
  type SafetyInput,
  type SettingSource,
} from './storage-safety.js';
export {
  SETTINGS_SECRET_UNUSABLE,
  patchSecretData,
  settingsSecretPatch,
  type SettingsSecretPatch,
} from './settings-secret.js';
export {
  describePersistentVolume,
  resolveClaim,
  volumeNode,
  type ResolvedVolume,
  type VolumeKind,
} from './volumes.js';
export {
  configMapRefs,
  describeVolume,
  inspectInstall,
  inspectionEnvLookup,
  isStorageKey,
  secretRefs,
  snapshotTargets,
  storageVolume,
  volumeIdentity,
  type ConfigMapInfo,
  type Finding,
  type FindingSeverity,
  type InspectOptions,
  type InstallInspection,
  type PodInfo,
  type ServiceInfo,
  type StorageSource,
  type StorageVolumeInfo,
  type WorkloadInspection,
} from './inspect.js';
export {
  DEFAULT_SECRET_NAME,
  conversionOptions,
  desiredDeployment,
  planCutover,
  renderPlanMarkdown,
  type CutoverPlan,
  type CutoverSettings,
  type WorkloadPlan,
} from './plan.js';
export {
  describePods,
  podDiagnostics,
  rolloutStatus,
  waitForRollout,
  type RolloutStatus,
  type WaitForRolloutOptions,
} from './rollout.js';
export {
  ORIGINAL_REPLICAS_ANNOTATION,
  scaleToZeroAndWait,
  scaleWorkload,
  waitForPodsGone,
  type FreezeOptions,
  type FreezeResult,
  type WorkloadRef,
} from './scale.js';
export { Journal, JournaledError, type JournalEntry } from './journal.js';
export {
  DEFAULT_LOCK_NAME,
  LockHeldError,
  acquireLock,
  releaseLock,
  renewLock,
  type LockHandle,
  type LockOptions,
} from './lock.js';
export {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SPEC_HASH_ANNOTATION,
  applyCutover,
  type ApplyCutoverOptions,
  type ApplyCutoverResult,
  type DifyS3Keys,
} from './apply.js';
export {
  CA_BUNDLE_CONFIGMAP,
  CA_BUNDLE_ENV,
  CA_BUNDLE_KEY,
  CA_BUNDLE_PATH,
  caBundleConfigMap,
  caBundleFile,
  mountCaBundle,
} from './ca-bundle.js';
export {
  detectLocalState,
  pluginDaemonStorage,
  readOtherWorkloads,
  type PluginDaemonStorage,
  type LocalStateInput,
  type OtherWorkloads,
} from './local-state.js';
export { PROBE_LABEL, probeEndpointFromPod, probePod, type PodProbeOptions } from './pod-probe.js';
export { restoreObjects, type RestoreOptions, type RestoreResult } from './restore.js';
export { pollUntil } from './wait.js';
export {
  silentLogger,
  type ConfigMap,
  type KubeObject,
  type Logger,
  type ObjectMeta,
  type Pod,
  type PodTemplate,
  type Secret,
  type Workload,
  type WorkloadSpec,
  type WorkloadStatus,
} from './types.js';
export {
  STORAGE_ROOT_OUTSIDE,
  effectiveStorageRoot,
  storageRootFindings,
  type StorageRoot,
} from './storage-root.js';
