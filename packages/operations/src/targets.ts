import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CouldNotCheckError, type InputParser, type KubeTarget } from '@dify-storage/action-kit';
import { isWithin, storagePathRefusal } from '@dify-storage/common';
import { KubeClient } from '@dify-storage/kube';

/** Where the copy journal, the cutover state and the default reports live on the node. */
export const DEFAULT_STATE_DIR = '/var/lib/dify-storage/state';

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

/**
 * The state directory (journal, records of what was uploaded, cutover state): never inside the
 * storage tree, where a Dify pod could plant records the copy would trust (and where the copy
 * would upload them).
 */
export function stateDirInput(p: InputParser, name: string, storagePath?: string): string {
  const dir = p.string(name, { default: DEFAULT_STATE_DIR });
  // A storage path already refused (a system directory) is reported once, by its own input.
  if (storagePath === undefined || storagePathRefusal(storagePath)) return dir;
  if (isWithin(dir, storagePath)) {
    p.fail(
      `Input '${name}' is '${dir}', inside the storage path '${storagePath}', where a Dify pod can write; use a directory outside it (default ${DEFAULT_STATE_DIR}).`,
    );
  }
  return dir;
}
