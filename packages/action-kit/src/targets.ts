import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { awsCredentialChain, REGION_NAME, type S3Target } from '@dify-storage/s3';
import { parse as parseYaml } from 'yaml';
import type { InputParser } from './inputs.js';

/** Input names shared by every action that talks to the bucket. */
export const S3Inputs = {
  Bucket: 'bucket',
  Endpoint: 'endpoint',
  Region: 'region',
  PathStyle: 'path-style',
  AccessKeyId: 'access-key-id',
  SecretAccessKey: 'secret-access-key',
  CaBundle: 'ca-bundle',
} as const;

/** Input names shared by every action that talks to the cluster. */
export const KubeInputs = {
  Kubeconfig: 'kubeconfig',
  Namespace: 'namespace',
} as const;

export interface KubeTarget {
  /** Kubeconfig content (YAML); undefined means the default loading rules ($KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  namespace: string;
}

/** A Kubernetes object name (DNS-1123 subdomain), for `p.string(name, { ...KUBE_NAME })`. */
export const KUBE_NAME = {
  pattern: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
  describe: 'a Kubernetes object name (lowercase letters, digits, hyphens and dots; at most 253)',
};

const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The bucket and how to reach it. Credentials come from the `access-key-id`/`secret-access-key`
 * inputs or, when those are empty, from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the step's env
 * (static keys); with neither, from the standard AWS chain (profile, web identity, instance
 * metadata), asked again before what it gave expires.
 */
export function parseS3Target(
  p: InputParser,
  env: NodeJS.ProcessEnv = process.env,
  { bucketInput = S3Inputs.Bucket as string } = {},
): S3Target {
  const bucket = p.string(bucketInput, {
    pattern: BUCKET,
    describe: 'a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots, hyphens)',
  });
  const endpointRaw = p.optional(S3Inputs.Endpoint);
  const endpoint = endpointRaw === undefined ? undefined : p.url(S3Inputs.Endpoint);
  const region = p.string(S3Inputs.Region, {
    default: 'us-east-1',
    pattern: REGION_NAME,
    describe: 'a region name such as us-east-1',
  });
  const forcePathStyle = p.boolean(S3Inputs.PathStyle, { default: 'true' });
  const accessKeyId = p.secret(S3Inputs.AccessKeyId) ?? env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = p.secret(S3Inputs.SecretAccessKey) ?? env.AWS_SECRET_ACCESS_KEY;
  p.mask(secretAccessKey);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    p.fail(
      `Give both '${S3Inputs.AccessKeyId}' and '${S3Inputs.SecretAccessKey}' (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither.`,
    );
  }
  const caBundle = parseCaBundle(p);
  return {
    bucket,
    ...(endpoint ? { endpoint } : {}),
    region,
    forcePathStyle,
    ...(caBundle ? { caBundle } : {}),
    credentials:
      accessKeyId && secretAccessKey
        ? {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: maskedSessionToken(p, env) } : {}),
          }
        : awsCredentialChain(),
  };
}

/** AWS_SESSION_TOKEN is a credential like the secret key: masked before anything can print it. */
function maskedSessionToken(p: InputParser, env: NodeJS.ProcessEnv): string | undefined {
  p.mask(env.AWS_SESSION_TOKEN);
  return env.AWS_SESSION_TOKEN;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * `ca-bundle`: PEM content, or the path of a PEM file. Every certificate in it must parse, so a
 * truncated paste fails here (exit 2) rather than as a TLS error halfway through a copy.
 */
function parseCaBundle(p: InputParser): string | undefined {
  const raw = p.optional(S3Inputs.CaBundle);
  if (raw === undefined) return undefined;
  let pem = raw;
  if (!raw.includes('-----BEGIN')) {
    try {
      pem = readFileSync(raw, 'utf8');
    } catch (error) {
      p.fail(
        `Input '${S3Inputs.CaBundle}' is neither PEM content nor a readable file (${(error as Error).message}).`,
      );
      return undefined;
    }
  }
  const certificates = pem.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) {
    p.fail(`Input '${S3Inputs.CaBundle}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
    return undefined;
  }
  for (const [i, cert] of certificates.entries()) {
    try {
      new X509Certificate(cert);
    } catch (error) {
      p.fail(
        `Input '${S3Inputs.CaBundle}': certificate ${i + 1} of ${certificates.length} does not parse (${(error as Error).message}).`,
      );
      return undefined;
    }
  }
  return `${certificates.join('\n')}\n`;
}

/**
 * The cluster and namespace. `kubeconfig` takes either the file's content (as a secret holds it)
 * or a path to it; its tokens and keys are masked before anything is logged.
 */
export function parseKubeTarget(p: InputParser): KubeTarget {
  const namespace = p.string(KubeInputs.Namespace, {
    default: 'dify',
    pattern: DNS_LABEL,
    describe: 'a Kubernetes namespace name (lowercase letters, digits and hyphens, at most 63)',
  });
  const raw = p.optional(KubeInputs.Kubeconfig);
  if (raw === undefined) return { namespace };
  let content = raw;
  // The content (or whatever was pasted) is never echoed: a broken kubeconfig still holds tokens.
  if (!/^\s*(apiVersion|clusters|kind|current-context)\s*:/m.test(raw)) {
    const pathLike = !/[\n{}]/.test(raw) && raw.length < 4096;
    try {
      if (!pathLike) throw Object.assign(new Error('not a path'), { code: 'not kubeconfig YAML' });
      content = readFileSync(raw, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      p.fail(
        `Input '${KubeInputs.Kubeconfig}' is neither kubeconfig content nor a readable file (${code}); its value is not shown.`,
      );
      return { namespace };
    }
  }
  try {
    maskKubeconfig(content, (v) => p.mask(v));
  } catch (error) {
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    p.fail(
      `Input '${KubeInputs.Kubeconfig}' is not valid YAML${line ? ` (line ${line})` : ''}; its content is not shown.`,
    );
  }
  return { kubeconfig: content, namespace };
}

const SECRET_FIELDS = new Set([
  'token',
  'password',
  'client-key-data',
  'client-certificate-data',
  'id-token',
  'refresh-token',
  'access-token',
  'client-secret',
]);

/** Masks every credential inside a kubeconfig without masking its ordinary lines. */
export function maskKubeconfig(content: string, mask: (value: string) => void): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (SECRET_FIELDS.has(key) && typeof value === 'string') mask(value);
        else visit(value);
      }
    }
  };
  visit(parseYaml(content));
}
