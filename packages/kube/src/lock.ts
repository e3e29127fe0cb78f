import type { KubeClient } from './client.js';
import { isAlreadyExists, isConflict, isNotFound } from './errors.js';
import { objectPath } from './paths.js';
import type { KubeObject } from './types.js';

export const DEFAULT_LOCK_NAME = 'dify-storage-migration';

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LockOptions {
  namespace: string;
  name?: string;
  /** Who holds the lock, e.g. the workflow run id. */
  holder: string;
  /** After this long without renewal another run may take the lock over. */
  ttlSeconds: number;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface LockHandle {
  namespace: string;
  name: string;
  holder: string;
  ttlSeconds: number;
  /** True when the lock was taken over from an expired holder. */
  tookOver?: string;
}

/** Another run holds the lock. */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
  /** Its class in the exit-code table: another run is at work, so this one is blocked. */
  readonly outcome = 'blocked';
  constructor(
    message: string,
    readonly holder: string,
    readonly since: string | undefined,
    readonly expiresAt: string | undefined,
  ) {
    super(message);
  }
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function expiry(lease: Lease): Date | undefined {
  const last = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const duration = lease.spec?.leaseDurationSeconds;
  if (!last || duration === undefined) return undefined;
  const t = Date.parse(last);
  return Number.isNaN(t) ? undefined : new Date(t + duration * 1000);
}

/**
 * Takes the migration lock, a coordination.k8s.io/v1 Lease in the namespace. A live lease of
 * another holder is refused with its name and since when; an expired one is taken over with a
 * resourceVersion precondition (two runs cannot both win). The same holder may take it again.
 */
export async function acquireLock(client: KubeClient, options: LockOptions): Promise<LockHandle> {
  if (!options.holder.trim()) throw new Error('lock holder must not be empty');
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
    throw new Error(`lock ttlSeconds must be a whole number ≥ 1, got ${options.ttlSeconds}`);
  }
  const name = options.name ?? DEFAULT_LOCK_NAME;
  const now = options.now ?? (() => new Date());
  const handle: LockHandle = {
    namespace: options.namespace,
    name,
    holder: options.holder,
    ttlSeconds: options.ttlSeconds,
  };
  const collection = objectPath('Lease', options.namespace);
  const path = objectPath('Lease', options.namespace, name);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const stamp = microTime(now());
    const current = await client.getOrNull<Lease>(path);
    if (!current) {
      try {
        await client.create(collection, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: options.namespace },
          spec: {
            holderIdentity: options.holder,
            leaseDurationSeconds: options.ttlSeconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        });
        return handle;
      } catch (error) {
        if (isAlreadyExists(error)) continue; // someone created it meanwhile: look again
        throw error;
      }
    }
    const holder = current.spec?.holderIdentity ?? '';
    const expiresAt = expiry(current);
    const free =
      !holder || holder === options.holder || !expiresAt || expiresAt.getTime() <= now().getTime();
    if (!free) {
      const since = current.spec?.acquireTime;
      throw new LockHeldError(
        `the migration lock (Lease ${options.namespace}/${name}) is held by "${holder}" since ${since ?? 'an unknown time'}, valid until ${expiresAt.toISOString()}; wait for that run to finish or for the lock to expire`,
        holder,
        since,
        expiresAt.toISOString(),
      );
    }
    const sameHolder = holder === options.holder;
    const next: Lease = {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: options.holder,
        leaseDurationSeconds: options.ttlSeconds,
        acquireTime: sameHolder ? (current.spec?.acquireTime ?? stamp) : stamp,
        renewTime: stamp,
        leaseTransitions: (current.spec?.leaseTransitions ?? 0) + (sameHolder ? 0 : 1),
      },
    };
    try {
      // The resourceVersion read above is the precondition: a concurrent taker gets 409.
      await client.replace(path, next);
      if (holder && !sameHolder) handle.tookOver = holder;
      return handle;
    } catch (error) {
      if (isConflict(error)) continue;
      throw error;
    }
  }
  throw new Error(
    `could not take the migration lock (Lease ${options.namespace}/${name}): it kept changing`,
  );
}

/** Extends the lease; fails if the lock is no longer ours. */
export async function renewLock(
  client: KubeClient,
  handle: LockHandle,
  now: () => Date = () => new Date(),
): Promise<void> {
  const path = objectPath('Lease', handle.namespace, handle.name);
  await client.updateWithRetry<Lease>(path, (lease) => {
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== handle.holder) {
      throw new Error(
        `the migration lock ${handle.namespace}/${handle.name} is now held by "${holder || 'nobody'}", not "${handle.holder}"`,
      );
    }
    return {
      ...lease,
      spec: { ...lease.spec, renewTime: microTime(now()), leaseDurationSeconds: handle.ttlSeconds },
    };
  });
}

/** Releases the lock if it is still ours; answers whether it did. */
export async function releaseLock(client: KubeClient, handle: LockHandle): Promise<boolean> {
  const path = objectPath('Lease', handle.namespace, handle.name);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const lease = await client.getOrNull<Lease>(path);
    if (!lease || lease.spec?.holderIdentity !== handle.holder) return false;
    try {
      return await client.delete(path, {
        preconditions: {
          uid: lease.metadata?.uid,
          resourceVersion: lease.metadata?.resourceVersion,
        },
      });
    } catch (error) {
      if (isConflict(error) || isNotFound(error)) continue;
      throw error;
    }
  }
  return false;
}
