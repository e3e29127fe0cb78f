import { createHash } from 'node:crypto';
import { signedFilePreviewUrl, withSlash } from './signing.js';

/** A Dify API answer that was not what the probe needed, with the status and body for the report. */
export class DifyApiError extends Error {
  override readonly name = 'DifyApiError';
  readonly outcome = 'failed';
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

export interface UploadedFile {
  id: string;
  name: string;
  size: number;
  extension: string;
}

export interface FetchedFile {
  status: number;
  bytes: number;
  sha256: string;
  /** sha3-256, the hash Dify keeps in upload_files.hash. */
  sha3: string;
  /** Content-Length announced by Dify (upload_files.size). */
  announced: number | null;
  /** The body ended early or the connection broke: Dify streams 200 before it reads storage. */
  truncated: boolean;
  error?: string;
}

/** The parts of Dify 1.3.0's HTTP API the verification probes use. */
export class DifyApi {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
  ) {}

  private url(path: string): string {
    return new URL(path.replace(/^\//, ''), withSlash(this.baseUrl)).toString();
  }

  private async request(
    path: string,
    init: RequestInit & { expect?: number[] } = {},
  ): Promise<unknown> {
    const res = await fetch(this.url(path), {
      ...init,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    const expected = init.expect ?? [200, 201];
    if (!expected.includes(res.status)) {
      throw new DifyApiError(
        `${init.method ?? 'GET'} /${path.replace(/^\//, '')} answered ${res.status}: ${text.slice(0, 300)}`,
        res.status,
        text,
      );
    }
    return text === '' ? {} : (JSON.parse(text) as unknown);
  }

  async health(): Promise<{ status: string; version: string; pid?: number }> {
    return (await this.request('health')) as { status: string; version: string };
  }

  /** POST /v1/files/upload with an app API key. */
  async uploadFile(
    appApiKey: string,
    name: string,
    content: Buffer,
    user: string,
  ): Promise<UploadedFile> {
    const form = new FormData();
    form.set('file', new Blob([content]), name);
    form.set('user', user);
    return (await this.request('v1/files/upload', {
      method: 'POST',
      headers: { Authorization: `Bearer ${appApiKey}` },
      body: form,
    })) as UploadedFile;
  }

  async createDataset(datasetApiKey: string, name: string): Promise<{ id: string }> {
    return (await this.request('v1/datasets', {
      method: 'POST',
      headers: { Authorization: `Bearer ${datasetApiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, permission: 'only_me' }),
    })) as { id: string };
  }

  async deleteDataset(datasetApiKey: string, datasetId: string): Promise<void> {
    await this.request(`v1/datasets/${datasetId}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${datasetApiKey}` },
      expect: [200, 204],
    });
  }

  /** POST /v1/datasets/{id}/document/create-by-file: the api stores the file, the worker indexes it. */
  async createDocumentByFile(
    datasetApiKey: string,
    datasetId: string,
    name: string,
    content: Buffer,
  ): Promise<{ documentId: string; batch: string }> {
    const form = new FormData();
    form.set(
      'data',
      JSON.stringify({ indexing_technique: 'economy', process_rule: { mode: 'automatic' } }),
    );
    form.set('file', new Blob([content]), name);
    const r = (await this.request(`v1/datasets/${datasetId}/document/create-by-file`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${datasetApiKey}` },
      body: form,
    })) as { document: { id: string }; batch: string };
    return { documentId: r.document.id, batch: r.batch };
  }

  async indexingStatus(
    datasetApiKey: string,
    datasetId: string,
    batch: string,
  ): Promise<{ id: string; indexing_status: string; error?: string | null }[]> {
    const r = (await this.request(`v1/datasets/${datasetId}/documents/${batch}/indexing-status`, {
      headers: { Authorization: `Bearer ${datasetApiKey}` },
    })) as { data: { id: string; indexing_status: string; error?: string | null }[] };
    return r.data;
  }

  async deleteDocument(
    datasetApiKey: string,
    datasetId: string,
    documentId: string,
  ): Promise<void> {
    await this.request(`v1/datasets/${datasetId}/documents/${documentId}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${datasetApiKey}` },
      expect: [200, 204],
    });
  }

  /**
   * Reads a file through the signed file-preview URL and hashes what arrives. Status alone
   * proves nothing: Dify answers 200 and then truncates the body when the object is missing.
   */
  async fetchFilePreview(fileId: string, secretKey: string): Promise<FetchedFile> {
    const url = signedFilePreviewUrl(this.baseUrl, fileId, secretKey);
    const hash = createHash('sha256');
    const hash3 = createHash('sha3-256');
    let bytes = 0;
    let status = 0;
    let announced: number | null = null;
    // What arrived so far, whether the read ended or failed part way.
    const arrived = () => ({
      status,
      bytes,
      sha256: hash.digest('hex'),
      sha3: hash3.digest('hex'),
      announced,
    });
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      status = res.status;
      const length = res.headers.get('content-length');
      announced = length === null ? null : Number(length);
      if (res.body) {
        for await (const chunk of res.body) {
          hash.update(chunk);
          hash3.update(chunk);
          bytes += chunk.length;
        }
      }
      return { ...arrived(), truncated: announced !== null && bytes !== announced };
    } catch (error) {
      return { ...arrived(), truncated: true, error: (error as Error).message };
    }
  }
}
