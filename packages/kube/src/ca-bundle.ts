import { rootCertificates } from 'node:tls';
import type { ConfigMap, V1Container, V1PodSpec } from './types.js';

/** The ConfigMap the cutover creates for a private CA (deleted again by rollback). */
export const CA_BUNDLE_CONFIGMAP = 'dify-s3-ca-bundle';
export const CA_BUNDLE_KEY = 'ca-bundle.crt';
export const CA_BUNDLE_DIR = '/etc/dify-storage/ca';
export const CA_BUNDLE_PATH = `${CA_BUNDLE_DIR}/${CA_BUNDLE_KEY}`;
const VOLUME = 'dify-s3-ca-bundle';

/**
 * The env that makes boto3 in api and worker trust the bundle. botocore 1.35.99 takes `verify`
 * from AWS_CA_BUNDLE (session.py:928-929, configprovider.py:59), else from REQUESTS_CA_BUNDLE
 * (endpoint.py:438-449), else certifi (httpsession.py:92-99); Dify never passes `verify`
 * (aws_s3_storage.py:26-36). Set inline on the containers, not in the shared ConfigMap: only
 * the containers that mount the file may name it.
 */
export const CA_BUNDLE_ENV = {
  AWS_CA_BUNDLE: CA_BUNDLE_PATH,
  REQUESTS_CA_BUNDLE: CA_BUNDLE_PATH,
} as const;

/**
 * The mounted file: the operator's CA followed by the public roots (Mozilla's list, the one
 * certifi ships). REQUESTS_CA_BUNDLE replaces the trust store of every `requests` call in the
 * container, not only boto3's; without the public roots Dify's calls to public HTTPS services
 * would start failing.
 */
export function caBundleFile(pem: string): string {
  return `${pem.trim()}\n${rootCertificates.join('\n')}\n`;
}

export function caBundleConfigMap(
  namespace: string,
  pem: string,
  labels: Record<string, string>,
): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CA_BUNDLE_CONFIGMAP, namespace, labels },
    data: { [CA_BUNDLE_KEY]: caBundleFile(pem) },
  };
}

/** Mounts the bundle read-only into the given containers and points boto3 and requests at it. */
export function mountCaBundle(podSpec: V1PodSpec, containers: V1Container[]): void {
  if (containers.length === 0) return;
  const volumes = (podSpec.volumes ?? []).filter((v) => v.name !== VOLUME);
  volumes.push({
    name: VOLUME,
    configMap: { name: CA_BUNDLE_CONFIGMAP, items: [{ key: CA_BUNDLE_KEY, path: CA_BUNDLE_KEY }] },
  });
  podSpec.volumes = volumes;
  for (const c of containers) {
    const mounts = (c.volumeMounts ?? []).filter((m) => m.name !== VOLUME);
    mounts.push({ name: VOLUME, mountPath: CA_BUNDLE_DIR, readOnly: true });
    c.volumeMounts = mounts;
    const env = (c.env ?? []).filter((e) => !(e.name in CA_BUNDLE_ENV));
    for (const [name, value] of Object.entries(CA_BUNDLE_ENV)) env.push({ name, value });
    c.env = env;
  }
}
