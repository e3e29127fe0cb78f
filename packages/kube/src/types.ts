import type {
  V1Container,
  V1EnvVar,
  V1LabelSelector,
  V1PodSpec,
  V1Volume,
} from '@kubernetes/client-node';

export type { V1Container, V1EnvVar, V1LabelSelector, V1PodSpec, V1Volume };

/**
 * Objects are handled as plain JSON as the API server sent them: the client's typed models drop
 * fields they do not know and turn timestamps into Dates, so they are unfit for backups.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec?: V1PodSpec;
}

export interface WorkloadSpec {
  replicas?: number;
  selector?: V1LabelSelector;
  template?: PodTemplate;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  [key: string]: unknown;
}

export interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
  conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  [key: string]: unknown;
}

export interface Workload extends KubeObject {
  spec?: WorkloadSpec;
  status?: WorkloadStatus;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
}

export interface Pod extends KubeObject {
  spec?: V1PodSpec;
  status?: {
    phase?: string;
    hostIP?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
    [key: string]: unknown;
  };
}

export interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

export interface ObjectList<T = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** Where progress goes; callers (actions, CLI) decide how it is shown. */
export interface Logger {
  info(message: string): void;
  warning?(message: string): void;
}

export const silentLogger: Logger = { info: () => undefined };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
