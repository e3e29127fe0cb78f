import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigurationError,
  CouldNotCheckError,
  type InputParser,
  type KubeTarget,
  type S3Target,
} from '@dify-storage/action-kit';
import { KubeClient } from '@dify-storage/kube';
import type { S3Settings } from '@dify-storage/s3';
import type { S3Target as SyncTarget } from '@dify-storage/sync';

/** Where the copy journal, the cutover state and the default reports live on the node. */
export const DEFAULT_STATE_DIR = '/var/lib/dify-storage/state';

/** The sync engine signs its own requests, so it needs static credentials. */
export function syncTarget(s3: S3Target, bucket = s3.bucket): SyncTarget {
  if (!s3.credentials) {
    throw new ConfigurationError(
      "The copy needs static S3 credentials: set 'access-key-id' and 'secret-access-key' (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).",
    );
  }
  return {
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region: s3.region,
    bucket,
    forcePathStyle: s3.forcePathStyle,
    credentials: s3.credentials,
    ...(s3.caBundle ? { caBundle: s3.caBundle } : {}),
  };
}

export function s3Settings(s3: S3Target): S3Settings {
  return {
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.credentials ? { credentials: s3.credentials } : {}),
    ...(s3.caBundle ? { caBundle: s3.caBundle } : {}),
  };
}

export function kubeClient(kube: KubeTarget): KubeClient {
  if (!kube.kubeconfig) requireDefaultKubeconfig();
  return KubeClient.load(kube.kubeconfig ? { kubeconfig: kube.kubeconfig } : {});
}

/** In-cluster credentials, as @kubernetes/client-node's loadFromCluster reads them. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Without a kubeconfig input the client falls back to $KUBECONFIG, ~/.kube/config, then the
 * in-cluster service account, and with none of them to http://localhost:8080, which fails with a
 * message about skipTLSVerify. Say what is missing and where it is read from instead.
 */
function requireDefaultKubeconfig(): void {
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  const home = path.join(os.homedir(), '.kube', 'config');
  const inCluster =
    Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN);
  if (fromEnv.some((f) => existsSync(f)) || existsSync(home) || inCluster) return;
  throw new CouldNotCheckError(
    `No kubeconfig: set the 'kubeconfig' input (the CLI reads it from DIFY_STORAGE_KUBECONFIG: a file path or its content). ` +
      `Without it the kubeconfig is read from ${fromEnv.length ? `$KUBECONFIG (${fromEnv.join(', ')}, not found)` : '$KUBECONFIG (unset)'}, ${home} (not found), or the in-cluster service account (${SERVICE_ACCOUNT_TOKEN}, not found).`,
  );
}

/** The Dify database URL (a secret): postgres:// or postgresql://, or undefined when not given. */
export function databaseUrlInput(p: InputParser, name: string): string | undefined {
  const url = p.secret(name);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url))
    p.fail(`Input '${name}' must be a postgres:// or postgresql:// URL.`);
  return url;
}
