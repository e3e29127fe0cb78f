import { stringify } from 'yaml';
import type { KubeClient } from './client.js';
import { isNotFound } from './errors.js';
import { KINDS, objectPath, type KindName } from './paths.js';
import { Redactor } from './redact.js';
import { sanitizeObject, secretDigest, type SecretDigest } from './sanitize.js';
import type { KubeObject, Secret } from './types.js';

export interface ObjectRef {
  kind: Exclude<KindName, 'Secret'>;
  name: string;
}

export interface SnapshotRequest {
  namespace: string;
  objects: ObjectRef[];
  /** Secrets the workloads reference: only names, key names and value digests are kept. */
  secrets?: string[];
}

export interface ObjectSnapshot {
  namespace: string;
  takenAt: string;
  /** Objects exactly as the server returned them (for the record). */
  raw: KubeObject[];
  /** The same objects ready to be created again. */
  sanitized: KubeObject[];
  secrets: SecretDigest[];
  /** Requested objects that do not exist, as `Kind/name`. */
  missing: string[];
}

/**
 * Reads the objects raw (plain JSON, nothing dropped by typed models) and returns them both
 * as-is and sanitized. Secret values never leave this function.
 */
export async function snapshotObjects(
  client: KubeClient,
  request: SnapshotRequest,
  redactor = new Redactor(),
): Promise<ObjectSnapshot> {
  const raw: KubeObject[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const ref of request.objects) {
    const id = `${ref.kind}/${ref.name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const object = await client.getOrNull<KubeObject>(
      objectPath(ref.kind, request.namespace, ref.name),
    );
    if (!object) {
      missing.push(id);
      continue;
    }
    raw.push({ apiVersion: KINDS[ref.kind].apiVersion, kind: ref.kind, ...object });
  }
  const secrets: SecretDigest[] = [];
  for (const name of new Set(request.secrets ?? [])) {
    try {
      secrets.push(
        secretDigest(
          await client.get<Secret>(objectPath('Secret', request.namespace, name)),
          redactor,
        ),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      missing.push(`Secret/${name}`);
    }
  }
  return {
    namespace: request.namespace,
    takenAt: new Date().toISOString(),
    raw,
    sanitized: raw.map((o) => sanitizeObject(o)),
    secrets,
    missing,
  };
}

/**
 * The Secrets holding storage settings (the ones a cutover may write, settings-secret.ts),
 * whole and sanitized, for a rollback to put back exactly. The caller keeps them on the node
 * only (mode 0600, outside every artifact and off-node copy); missing ones are left out.
 */
export async function readSettingsSecrets(
  client: KubeClient,
  namespace: string,
  names: string[],
): Promise<Secret[]> {
  const out: Secret[] = [];
  for (const name of names) {
    const secret = await client.getOrNull<Secret>(objectPath('Secret', namespace, name));
    if (secret) out.push(sanitizeObject({ ...secret, apiVersion: 'v1', kind: 'Secret' }) as Secret);
  }
  return out;
}

/**
 * Renders objects as one multi-document YAML stream (what `kubectl apply -f` reads). With
 * `redact` (true, or the backup's Redactor), every value not on the allowlist is replaced (see
 * redact.ts), for artifacts and logs; the unredacted stream is what a restore needs.
 */
export function renderYaml(
  objects: readonly KubeObject[],
  options: { redact?: boolean | Redactor } = {},
): string {
  const r = options.redact === true ? new Redactor() : options.redact || undefined;
  return objects.map((o) => stringify(r ? redactObject(o, r) : o, { lineWidth: 0 })).join('---\n');
}

/** A copy fit to leave the node (see redact.ts). */
export function redactObject<T extends KubeObject>(object: T, redactor = new Redactor()): T {
  return redactor.deep(object) as T;
}
