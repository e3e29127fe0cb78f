/** Shared helpers for the fake-cluster tests. */
import * as k8s from '@kubernetes/client-node';
import { expect } from '@jest/globals';
import type { FakeApiServer } from '../../src/kube/api-server.js';
import type { Loose } from '../../src/kube/json.js';

export function clients(server: FakeApiServer) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return {
    kc,
    apps: kc.makeApiClient(k8s.AppsV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Awaits a rejected client-node call and returns the parsed Status body after checking code and reason. */
export async function expectStatus(
  p: Promise<unknown>,
  code: number,
  reason: string,
): Promise<Record<string, Loose>> {
  let error: unknown;
  try {
    await p;
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(k8s.ApiException);
  const e = error as k8s.ApiException<string>;
  expect(e.code).toBe(code);
  const body = JSON.parse(e.body) as Record<string, Loose>;
  expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason });
  return body;
}

/** Polls until fn returns a truthy value (returned) or the deadline passes (throws with the last value). */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`,
  );
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const podTemplate = (app: string, extra: Record<string, Loose> = {}) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'main', image: 'busybox:1.36', ...extra }] },
});
