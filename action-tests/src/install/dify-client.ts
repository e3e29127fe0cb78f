import type { SimulatedInstall } from './simulated-install.js';

/** Uploads a file through the emulated Dify's service API, as a user's app would. */
export async function uploadThroughDify(
  install: SimulatedInstall,
  appApiKey: string,
  name: string,
  content: Buffer,
): Promise<{ id: string; size: number }> {
  const form = new FormData();
  form.append('file', new Blob([content]), name);
  form.append('user', 'demo-user');
  const res = await fetch(`${install.difyUrl}/v1/files/upload`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${appApiKey}` },
    body: form,
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string; size: number };
}

/** Creates a workspace (tenant, private key, API keys) the way signing up does. */
export async function createWorkspace(
  install: SimulatedInstall,
  name: string,
): Promise<{ tenant_id: string; app_api_key: string; dataset_api_key: string }> {
  const res = await fetch(`${install.difyUrl}/console/api/workspaces`, {
    method: 'POST',
    headers: { 'X-Emulator-Admin-Token': install.adminToken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 201)
    throw new Error(`workspace creation answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { tenant_id: string; app_api_key: string; dataset_api_key: string };
}
