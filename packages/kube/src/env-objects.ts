import type { KubeClient } from './client.js';
import { STORAGE_SETTING_KEYS } from './convert.js';
import type { EnvObjectLookup } from './env.js';
import { objectPath } from './paths.js';
import type { ConfigMap, Secret, V1Container } from './types.js';

type EnvObjectKind = 'ConfigMap' | 'Secret';

/** The ConfigMaps and Secrets a container's env refers to, through `envFrom` and `env`, in order. */
export function envObjectRefs(container: V1Container): [kind: EnvObjectKind, name: string][] {
  const refs: [EnvObjectKind, string | undefined][] = [];
  for (const f of container.envFrom ?? []) {
    if (f.configMapRef) refs.push(['ConfigMap', f.configMapRef.name]);
    if (f.secretRef) refs.push(['Secret', f.secretRef.name]);
  }
  for (const e of container.env ?? []) {
    const v = e.valueFrom;
    if (v?.configMapKeyRef) refs.push(['ConfigMap', v.configMapKeyRef.name]);
    if (v?.secretKeyRef) refs.push(['Secret', v.secretKeyRef.name]);
  }
  return refs.filter((r): r is [EnvObjectKind, string] => !!r[1]);
}

/**
 * The ConfigMaps and Secrets containers' env refers to, each read once, for effectiveEnv. Of a
 * Secret only the storage settings are decoded (STORAGE_TYPE, S3_ENDPOINT, ...: not secret);
 * every other value stays unread (''), since knowing it comes from a Secret is enough.
 */
export class EnvObjects {
  private readonly objects = new Map<string, Record<string, string> | undefined>();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
  ) {}

  /** Reads the objects the container refers to that are not read yet. */
  async load(container: V1Container): Promise<void> {
    for (const [kind, name] of envObjectRefs(container)) {
      if (this.objects.has(`${kind}/${name}`)) continue;
      const o = await this.client.getOrNull<ConfigMap | Secret>(
        objectPath(kind, this.namespace, name),
      );
      this.objects.set(`${kind}/${name}`, o ? envData(kind, o.data ?? {}) : undefined);
    }
  }

  /** The data of an object read so far; undefined when it does not exist (or is not read). */
  readonly lookup: EnvObjectLookup = (kind, name) => this.objects.get(`${kind}/${name}`);

  /** The objects of one kind read so far, in the order first referred to (data undefined: missing). */
  read(kind: EnvObjectKind): [name: string, data: Record<string, string> | undefined][] {
    return [...this.objects]
      .filter(([ref]) => ref.startsWith(`${kind}/`))
      .map(([ref, data]) => [ref.slice(kind.length + 1), data]);
  }
}

function envData(kind: EnvObjectKind, data: Record<string, string>): Record<string, string> {
  if (kind === 'ConfigMap') return { ...data };
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [
      k,
      STORAGE_SETTING_KEYS.has(k) ? Buffer.from(v, 'base64').toString('utf8') : '',
    ]),
  );
}
