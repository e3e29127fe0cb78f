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

type Tenant = { datasetId: string; datasetApiKey: string };

/** Waits (≤ 30 s) for the worker to finish a document batch; returns its final status. */
async function indexingDone(
  install: SimulatedInstall,
  tenant: Tenant,
  batch: string,
): Promise<{ indexing_status: string; error: string | null }> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const res = await fetch(
      `${install.difyUrl}/v1/datasets/${tenant.datasetId}/documents/${batch}/indexing-status`,
      { headers: { Authorization: `Bearer ${tenant.datasetApiKey}` } },
    );
    const s = ((await res.json()) as { data: { indexing_status: string; error: string | null }[] })
      .data[0]!;
    if (['completed', 'error'].includes(s.indexing_status)) return s;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`document batch ${batch} was not indexed within 30 s`);
}

async function created(res: Response, what: string) {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { document: { id: string }; batch: string };
}

/** A knowledge document made by create-by-text (FileService.upload_text), indexed by the worker. */
export async function createDocumentByText(
  install: SimulatedInstall,
  tenant: Tenant,
  name: string,
  text: string,
): Promise<{ documentId: string; status: string }> {
  const res = await fetch(
    `${install.difyUrl}/v1/datasets/${tenant.datasetId}/document/create-by-text`,
    {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${tenant.datasetApiKey}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ name, text, process_rule: { mode: 'automatic' } }),
      signal: AbortSignal.timeout(30_000),
    },
  );
  const c = await created(res, 'create-by-text');
  return {
    documentId: c.document.id,
    status: (await indexingDone(install, tenant, c.batch)).indexing_status,
  };
}

/** A knowledge document made by create-by-file (e.g. a .docx, whose images the worker stores). */
export async function createDocumentByFile(
  install: SimulatedInstall,
  tenant: Tenant,
  name: string,
  content: Buffer,
): Promise<{ documentId: string; status: string }> {
  const form = new FormData();
  form.append('file', new Blob([content]), name);
  form.append('data', JSON.stringify({ process_rule: { mode: 'automatic' } }));
  const res = await fetch(
    `${install.difyUrl}/v1/datasets/${tenant.datasetId}/document/create-by-file`,
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.datasetApiKey}` },
      body: form,
      signal: AbortSignal.timeout(30_000),
    },
  );
  const c = await created(res, 'create-by-file');
  return {
    documentId: c.document.id,
    status: (await indexingDone(install, tenant, c.batch)).indexing_status,
  };
}
