import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, type DifyContext } from '../context.js';
import { naiveUtc } from '../db.js';
import {
  deleteDocument,
  documentFields,
  indexingStatus,
  parseCreateArgs,
  saveDocumentWithUploadFile,
  type DatasetRow,
} from '../documents.js';
import {
  fileFields,
  uploadFile,
  uploadText,
  type ToolFileRow,
  type UploadFileRow,
} from '../files.js';
import { decryptToken } from '../encrypter.js';
import { keywordTableDict } from '../keyword.js';
import { log } from '../log.js';
import { signedFilePreviewUrl, verifyFileSignature } from '../signing.js';
import { provisionWorkspace } from '../tenants.js';
import { parseMultipart } from './multipart.js';

const VERSION = '1.3.0';
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const MAX_BODY = 100 * 1024 * 1024;

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

function send(res: Res, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'file_too_large', 'Request entity too large.'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function bearer(req: Req): string {
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Bearer ') || h.slice(7).trim() === '') {
    throw new HttpError(
      401,
      'unauthorized',
      "Authorization header must be provided and start with 'Bearer'",
    );
  }
  return h.slice(7).trim();
}

async function tokenRow(
  ctx: DifyContext,
  req: Req,
  type: 'app' | 'dataset',
): Promise<{ app_id: string | null; tenant_id: string }> {
  const token = bearer(req);
  const { rows } = await ctx.db.query<{ id: string; app_id: string | null; tenant_id: string }>(
    `SELECT id, app_id, tenant_id FROM api_tokens WHERE token = $1 AND type = $2`,
    [token, type],
  );
  const row = rows[0];
  if (!row) throw new HttpError(401, 'unauthorized', 'Access token is invalid');
  await ctx.db.query(`UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, [row.id, naiveUtc()]);
  return row;
}

/** validate_app_token + FetchUserArg(FORM): the end user keyed by the `user` form field. */
async function appEndUser(ctx: DifyContext, req: Req, user: string | undefined) {
  const token = await tokenRow(ctx, req, 'app');
  const { rows } = await ctx.db.query<{
    id: string;
    tenant_id: string;
    status: string;
    enable_api: boolean;
  }>(`SELECT id, tenant_id, status, enable_api FROM apps WHERE id = $1`, [token.app_id]);
  const app = rows[0];
  if (!app) throw new HttpError(403, 'forbidden', 'The app no longer exists.');
  if (app.status !== 'normal')
    throw new HttpError(403, 'forbidden', "The app's status is abnormal.");
  if (!app.enable_api)
    throw new HttpError(403, 'forbidden', "The app's API service has been disabled.");
  const sessionId = user && user !== '' ? user : 'DEFAULT-USER';
  const found = await ctx.db.query<{ id: string }>(
    `SELECT id FROM end_users WHERE tenant_id = $1 AND app_id = $2 AND session_id = $3 AND type = 'service_api'`,
    [app.tenant_id, app.id, sessionId],
  );
  let endUserId = found.rows[0]?.id;
  if (!endUserId) {
    const created = await ctx.db.query<{ id: string }>(
      `INSERT INTO end_users (tenant_id, app_id, type, is_anonymous, session_id)
       VALUES ($1, $2, 'service_api', $3, $4) RETURNING id`,
      [app.tenant_id, app.id, sessionId === 'DEFAULT-USER', sessionId],
    );
    endUserId = created.rows[0]!.id;
  }
  return { tenantId: app.tenant_id, endUserId };
}

/** validate_dataset_token: the tenant's owner account acts as the current user. */
async function datasetOwner(
  ctx: DifyContext,
  req: Req,
): Promise<{ tenantId: string; accountId: string }> {
  const token = await tokenRow(ctx, req, 'dataset');
  const { rows } = await ctx.db.query<{ account_id: string }>(
    `SELECT account_id FROM tenant_account_joins WHERE tenant_id = $1 AND role = 'owner'`,
    [token.tenant_id],
  );
  if (!rows[0]) throw new HttpError(401, 'unauthorized', 'Tenant owner account does not exist.');
  return { tenantId: token.tenant_id, accountId: rows[0].account_id };
}

function singleFile(form: ReturnType<typeof parseMultipart>) {
  const file = form.files.find((f) => f.field === 'file');
  if (!file) throw new HttpError(400, 'no_file_uploaded', 'Please upload your file.');
  if (form.files.length > 1)
    throw new HttpError(400, 'too_many_files', 'Only one file is allowed.');
  if (!file.filename)
    throw new HttpError(400, 'filename_not_exists_error', 'The specified filename does not exist.');
  return file;
}

async function handleUpload(ctx: DifyContext, req: Req, res: Res): Promise<void> {
  const body = await readBody(req);
  const form = parseMultipart(req.headers['content-type'], body);
  const { tenantId, endUserId } = await appEndUser(ctx, req, form.fields.get('user'));
  const file = singleFile(form);
  if (!file.contentType)
    throw new HttpError(415, 'unsupported_file_type', 'File type not allowed.');
  const row = await uploadFile(ctx.config, ctx.db, ctx.storage, {
    filename: file.filename,
    content: file.data,
    mimetype: file.contentType,
    user: { id: endUserId, tenantId, role: 'end_user' },
  });
  send(res, 201, fileFields(row));
}

async function findDataset(
  ctx: DifyContext,
  tenantId: string,
  datasetId: string,
): Promise<DatasetRow> {
  const { rows } = await ctx.db.query<DatasetRow>(
    `SELECT id, tenant_id, indexing_technique FROM datasets WHERE id = $1 AND tenant_id = $2`,
    [datasetId, tenantId],
  );
  if (!rows[0]) throw new HttpError(400, 'invalid_param', 'Dataset does not exist.');
  return rows[0];
}

async function handleCreateByFile(
  ctx: DifyContext,
  req: Req,
  res: Res,
  datasetId: string,
): Promise<void> {
  const { tenantId, accountId } = await datasetOwner(ctx, req);
  const body = await readBody(req);
  const form = parseMultipart(req.headers['content-type'], body);
  const args = parseCreateArgs(form.fields.get('data'));
  const dataset = await datasetToCreateIn(ctx, tenantId, datasetId, args);
  if (!args.process_rule) await requireProcessRule(ctx, dataset.id);
  const file = singleFile(form);
  const upload = await uploadFile(ctx.config, ctx.db, ctx.storage, {
    filename: file.filename,
    content: file.data,
    mimetype: file.contentType || 'application/octet-stream',
    user: { id: accountId, tenantId, role: 'account' },
    source: 'datasets',
  });
  await queueDocument(ctx, res, dataset, accountId, upload, args);
}

/** The dataset of a create-by-* request, which must know its indexing technique. */
async function datasetToCreateIn(
  ctx: DifyContext,
  tenantId: string,
  datasetId: string,
  args: ReturnType<typeof parseCreateArgs>,
): Promise<DatasetRow> {
  const dataset = await findDataset(ctx, tenantId, datasetId);
  if (!dataset.indexing_technique && !args.indexing_technique) {
    throw new HttpError(400, 'invalid_param', 'indexing_technique is required.');
  }
  return dataset;
}

/** save_document_with_dataset_id for one upload file, answered as `{document, batch}`. */
async function queueDocument(
  ctx: DifyContext,
  res: Res,
  dataset: DatasetRow,
  accountId: string,
  upload: UploadFileRow,
  args: ReturnType<typeof parseCreateArgs>,
): Promise<void> {
  const { document, batch } = await saveDocumentWithUploadFile(
    ctx.db,
    ctx.broker,
    dataset,
    accountId,
    upload,
    args,
  );
  send(res, 200, { document: documentFields(document, upload), batch });
}

/** The process rule create-by-* needs when the request has none: the dataset's latest. */
async function requireProcessRule(ctx: DifyContext, datasetId: string): Promise<void> {
  const { rows } = await ctx.db.query(
    `SELECT 1 FROM dataset_process_rules WHERE dataset_id = $1 LIMIT 1`,
    [datasetId],
  );
  if (rows.length === 0) throw new HttpError(400, 'invalid_param', 'process_rule is required.');
}

/**
 * DocumentAddByTextApi (controllers/service_api/dataset/document.py:33-92): JSON `name` and
 * `text` plus the knowledge settings; FileService.upload_text stores the text before the
 * settings are validated, then the document is queued as for create-by-file.
 */
async function handleCreateByText(
  ctx: DifyContext,
  req: Req,
  res: Res,
  datasetId: string,
): Promise<void> {
  const { tenantId, accountId } = await datasetOwner(ctx, req);
  const raw = (await readBody(req)).toString('utf8');
  const args = parseCreateArgs(raw);
  const { name, text } = JSON.parse(raw) as { name?: unknown; text?: unknown };
  for (const [field, value] of [
    ['name', name],
    ['text', text],
  ] as const) {
    if (typeof value !== 'string') {
      throw new HttpError(
        400,
        'invalid_param',
        `${field}: Missing required parameter in the JSON body`,
      );
    }
  }
  const dataset = await datasetToCreateIn(ctx, tenantId, datasetId, args);
  const upload = await uploadText(ctx.config, ctx.db, ctx.storage, {
    text: text as string,
    name: name as string,
    user: { id: accountId, tenantId },
  });
  if (!args.process_rule) await requireProcessRule(ctx, dataset.id);
  await queueDocument(ctx, res, dataset, accountId, upload, args);
}

/**
 * Streams an object as FilePreviewApi does: headers first (Content-Length = the row's size),
 * then the storage generator. A missing object fails only once the generator is pulled: under
 * gunicorn no header is out yet, so the client gets an empty reply (the default), or with
 * DIFY_EMULATOR_MISSING_OBJECT_RESPONSE=truncate a 200 whose body ends early — see README.
 */
async function streamObject(
  ctx: DifyContext,
  req: Req,
  res: Res,
  key: string,
  size: number,
  headers: Record<string, string>,
): Promise<void> {
  const gen = ctx.storage.loadStream(key);
  const allHeaders: Record<string, string | number> = { ...headers };
  if (size > 0) allHeaders['Content-Length'] = size;
  let first: IteratorResult<Buffer, void> | undefined;
  if (ctx.config.missingObjectResponse === 'empty-reply') {
    // gunicorn's worker closes the connection without a response on an OSError before the
    // first body chunk (FileNotFoundError is one).
    try {
      first = await gen.next();
    } catch (err) {
      log('ERROR', 'base_async.py:115', `Socket error processing request. ${String(err)}`);
      req.socket.destroy();
      return;
    }
  }
  res.writeHead(200, allHeaders);
  res.flushHeaders();
  let sent = 0;
  try {
    const write = async (chunk: Buffer) => {
      if (size > 0 && sent + chunk.length > size) chunk = chunk.subarray(0, size - sent);
      sent += chunk.length;
      if (chunk.length > 0 && !res.write(chunk)) {
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
        if (res.destroyed) throw new Error('client went away');
      }
    };
    if (first && !first.done) await write(first.value);
    if (!first?.done) for await (const chunk of gen) await write(chunk);
    if (size > 0 && sent < size)
      throw new Error(`object shorter than its recorded size (${sent} < ${size})`);
    res.end();
  } catch (err) {
    log(
      'ERROR',
      'base_async.py:120',
      `Error handling request ${req.url?.split('?')[0]}: ${String(err)}`,
    );
    res.destroy();
    await gen.return(undefined).catch(() => undefined); // releases an S3 body mid-read
  }
}

function signedParams(url: URL) {
  const timestamp = url.searchParams.get('timestamp');
  const nonce = url.searchParams.get('nonce');
  const sign = url.searchParams.get('sign');
  if (!timestamp || !nonce || !sign) return null;
  return { timestamp, nonce, sign };
}

async function handleFilePreview(
  ctx: DifyContext,
  req: Req,
  res: Res,
  url: URL,
  fileId: string,
): Promise<void> {
  const params = signedParams(url);
  if (!params) return send(res, 400, { content: 'Invalid request.' });
  // Dify answers a bad or expired signature with 404, like a missing row.
  if (!verifyFileSignature(ctx.config.secretKey, ctx.config.filesAccessTimeout, fileId, params)) {
    throw new HttpError(404, 'not_found', 'File not found or signature is invalid');
  }
  const { rows } = await ctx.db.query<UploadFileRow>(`SELECT * FROM upload_files WHERE id = $1`, [
    fileId,
  ]);
  const file = rows[0];
  if (!file) throw new HttpError(404, 'not_found', 'File not found or signature is invalid');
  // FilePreviewApi always overwrites the mimetype with application/octet-stream
  // (controllers/files/image_preview.py:67-80).
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  const asAttachment = url.searchParams.get('as_attachment');
  if (asAttachment && ['true', '1', 'yes', 'on'].includes(asAttachment.toLowerCase())) {
    headers['Content-Disposition'] =
      `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`;
  }
  await streamObject(ctx, req, res, file.key, file.size, headers);
}

async function handleToolFile(
  ctx: DifyContext,
  req: Req,
  res: Res,
  url: URL,
  id: string,
): Promise<void> {
  const params = signedParams(url);
  if (!params) return send(res, 400, { content: 'Invalid request.' });
  if (!verifyFileSignature(ctx.config.secretKey, ctx.config.filesAccessTimeout, id, params)) {
    throw new HttpError(403, 'forbidden', 'Invalid request.');
  }
  const { rows } = await ctx.db.query<ToolFileRow>(`SELECT * FROM tool_files WHERE id = $1`, [id]);
  const file = rows[0];
  if (!file) throw new HttpError(415, 'unsupported_file_type', 'File type not allowed.');
  await streamObject(ctx, req, res, file.file_key, file.size, { 'Content-Type': file.mimetype });
}

/** The emulator-only console endpoints: enabled by DIFY_EMULATOR_ADMIN_TOKEN, sent as a header. */
function requireAdmin(ctx: DifyContext, req: Req): void {
  const token = ctx.config.adminToken;
  if (!token || req.headers['x-emulator-admin-token'] !== token) {
    throw new HttpError(401, 'unauthorized', 'Invalid admin token.');
  }
}

/**
 * Emulator only: `decrypt_token(tenant, token)` as a model provider's credentials are read
 * (core/helper/encrypter.py:24-39), so the tenant's private key is loaded through the configured
 * storage (libs/rsa.py:48-64). A missing key is Dify's uncaught PrivkeyNotFoundError: a 500.
 */
async function handleDecryptToken(
  ctx: DifyContext,
  req: Req,
  res: Res,
  tenantId: string,
): Promise<void> {
  requireAdmin(ctx, req);
  let token: unknown;
  try {
    token = (JSON.parse((await readBody(req)).toString('utf8')) as { token?: unknown }).token;
  } catch {
    throw new HttpError(400, 'invalid_param', 'body must be JSON');
  }
  if (typeof token !== 'string') throw new HttpError(400, 'invalid_param', 'token is required.');
  send(res, 200, { text: await decryptToken(ctx.storage, tenantId, token) });
}

/**
 * Emulator only: the dataset's keyword table as Jieba's `_get_dataset_keyword_table` reads it
 * (models/dataset.py:897-908; the keyword file through the configured storage, None on error).
 */
async function handleKeywordTable(
  ctx: DifyContext,
  req: Req,
  res: Res,
  datasetId: string,
): Promise<void> {
  requireAdmin(ctx, req);
  const got = await keywordTableDict(ctx.db, ctx.storage, datasetId);
  if (!got) throw new HttpError(404, 'not_found', 'Dataset keyword table not found.');
  send(res, 200, { data_source_type: got.dataSourceType, keyword_table: got.table });
}

async function handleCreateWorkspace(ctx: DifyContext, req: Req, res: Res): Promise<void> {
  requireAdmin(ctx, req);
  const raw = (await readBody(req)).toString('utf8');
  let name: string | undefined;
  if (raw.trim()) {
    try {
      name = (JSON.parse(raw) as { name?: string }).name;
    } catch {
      throw new HttpError(400, 'invalid_param', 'body must be JSON');
    }
  }
  const ws = await provisionWorkspace(ctx.db, ctx.storage, { name });
  send(res, 201, {
    tenant_id: ws.tenantId,
    account_id: ws.accountId,
    name: ws.name,
    app_id: ws.appId,
    app_api_key: ws.appApiKey,
    dataset_id: ws.datasetId,
    dataset_api_key: ws.datasetApiKey,
  });
}

/** DocumentUploadFileApi: the document's upload file with a freshly signed preview URL. */
async function documentUploadFile(
  ctx: DifyContext,
  tenantId: string,
  datasetId: string,
  documentId: string,
): Promise<Record<string, unknown>> {
  const { rows: ds } = await ctx.db.query(
    `SELECT 1 FROM datasets WHERE id = $1 AND tenant_id = $2`,
    [datasetId, tenantId],
  );
  if (ds.length === 0) throw new HttpError(404, 'not_found', 'Dataset not found.');
  const { rows: docs } = await ctx.db.query<{ tenant_id: string; data_source_info: string | null }>(
    `SELECT tenant_id, data_source_info FROM documents WHERE id = $1 AND dataset_id = $2`,
    [documentId, datasetId],
  );
  const doc = docs[0];
  if (!doc) throw new HttpError(404, 'not_found', 'Document not found.');
  if (doc.tenant_id !== tenantId) throw new HttpError(403, 'forbidden', 'No permission.');
  const info = doc.data_source_info
    ? (JSON.parse(doc.data_source_info) as { upload_file_id?: string })
    : {};
  if (!info.upload_file_id) {
    throw new HttpError(
      400,
      'invalid_param',
      'Upload file id not found in document data source info.',
    );
  }
  const { rows } = await ctx.db.query<UploadFileRow>(`SELECT * FROM upload_files WHERE id = $1`, [
    info.upload_file_id,
  ]);
  const file = rows[0];
  if (!file) throw new HttpError(404, 'not_found', 'UploadFile not found.');
  const url = signedFilePreviewUrl(ctx.config.filesUrl, ctx.config.secretKey, file.id);
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    extension: file.extension,
    url,
    download_url: `${url}&as_attachment=true`,
    mime_type: file.mime_type,
    created_by: file.created_by,
    created_at: file.created_at.getTime() / 1000,
  };
}

/** POST /v1/datasets: an empty knowledge base (DatasetListApi.post in Dify). */
async function handleCreateDataset(ctx: DifyContext, req: Req, res: Res): Promise<void> {
  const { tenantId, accountId } = await datasetOwner(ctx, req);
  let args: { name?: unknown; indexing_technique?: unknown; permission?: unknown } = {};
  try {
    args = JSON.parse((await readBody(req)).toString('utf8') || '{}') as typeof args;
  } catch {
    throw new HttpError(400, 'invalid_param', 'The body is not valid JSON.');
  }
  if (typeof args.name !== 'string' || args.name.length < 1 || args.name.length > 40) {
    throw new HttpError(400, 'invalid_param', 'Name must be between 1 to 40 characters.');
  }
  const technique = typeof args.indexing_technique === 'string' ? args.indexing_technique : null;
  const { rows } = await ctx.db.query<{ id: string; created_at: Date }>(
    `INSERT INTO datasets (tenant_id, name, permission, indexing_technique, created_by, updated_by)
     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, created_at`,
    [
      tenantId,
      args.name,
      typeof args.permission === 'string' ? args.permission : 'only_me',
      technique,
      accountId,
    ],
  );
  const row = rows[0]!;
  send(res, 200, {
    id: row.id,
    name: args.name,
    indexing_technique: technique,
    document_count: 0,
    created_at: Math.floor(row.created_at.getTime() / 1000),
  });
}

/** DELETE /v1/datasets/{id}: documents cleaned like Dify's clean_dataset_task, then the row. */
async function handleDeleteDataset(
  ctx: DifyContext,
  req: Req,
  res: Res,
  datasetId: string,
): Promise<void> {
  const { tenantId } = await datasetOwner(ctx, req);
  const { rows: docs } = await ctx.db.query<{ id: string }>(
    `SELECT id FROM documents WHERE dataset_id = $1 AND tenant_id = $2`,
    [datasetId, tenantId],
  );
  for (const d of docs) await deleteDocument(ctx.db, ctx.broker, tenantId, datasetId, d.id);
  const r = await ctx.db.query(`DELETE FROM datasets WHERE id = $1 AND tenant_id = $2`, [
    datasetId,
    tenantId,
  ]);
  if ((r.rowCount ?? 0) === 0) throw new HttpError(404, 'not_found', 'Dataset not found.');
  res.writeHead(204);
  res.end();
}

async function route(ctx: DifyContext, req: Req, res: Res): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const p = url.pathname;
  const method = req.method ?? 'GET';
  let m: RegExpExecArray | null;
  if (method === 'GET' && p === '/health') {
    return send(res, 200, { pid: process.pid, status: 'ok', version: VERSION });
  }
  if (method === 'POST' && p === '/v1/files/upload') return handleUpload(ctx, req, res);
  if (method === 'POST' && p === '/v1/datasets') return handleCreateDataset(ctx, req, res);
  if (method === 'DELETE' && (m = new RegExp(`^/v1/datasets/(${UUID})$`).exec(p))) {
    return handleDeleteDataset(ctx, req, res, m[1]!.toLowerCase());
  }
  if (
    method === 'POST' &&
    (m = new RegExp(`^/v1/datasets/(${UUID})/document/create[-_]by[-_]file$`).exec(p))
  ) {
    return handleCreateByFile(ctx, req, res, m[1]!.toLowerCase());
  }
  if (
    method === 'POST' &&
    (m = new RegExp(`^/v1/datasets/(${UUID})/document/create[-_]by[-_]text$`).exec(p))
  ) {
    return handleCreateByText(ctx, req, res, m[1]!.toLowerCase());
  }
  if (
    method === 'GET' &&
    (m = new RegExp(`^/v1/datasets/(${UUID})/documents/([^/]+)/indexing-status$`).exec(p))
  ) {
    const { tenantId } = await datasetOwner(ctx, req);
    const data = await indexingStatus(
      ctx.db,
      tenantId,
      m[1]!.toLowerCase(),
      decodeURIComponent(m[2]!),
    );
    return send(res, 200, { data });
  }
  if (
    method === 'DELETE' &&
    (m = new RegExp(`^/v1/datasets/(${UUID})/documents/(${UUID})$`).exec(p))
  ) {
    const { tenantId } = await datasetOwner(ctx, req);
    await deleteDocument(ctx.db, ctx.broker, tenantId, m[1]!.toLowerCase(), m[2]!.toLowerCase());
    return send(res, 200, { result: 'success' });
  }
  if (
    method === 'GET' &&
    (m = new RegExp(`^/v1/datasets/(${UUID})/documents/(${UUID})/upload-file$`).exec(p))
  ) {
    const { tenantId } = await datasetOwner(ctx, req);
    return send(
      res,
      200,
      await documentUploadFile(ctx, tenantId, m[1]!.toLowerCase(), m[2]!.toLowerCase()),
    );
  }
  if (method === 'GET' && (m = new RegExp(`^/files/(${UUID})/file-preview$`).exec(p))) {
    return handleFilePreview(ctx, req, res, url, m[1]!.toLowerCase());
  }
  if (method === 'GET' && (m = new RegExp(`^/files/tools/(${UUID})\\.[^/]*$`).exec(p))) {
    return handleToolFile(ctx, req, res, url, m[1]!.toLowerCase());
  }
  if (method === 'POST' && p === '/console/api/workspaces')
    return handleCreateWorkspace(ctx, req, res);
  if (
    method === 'POST' &&
    (m = new RegExp(`^/console/api/workspaces/(${UUID})/decrypt-token$`).exec(p))
  ) {
    return handleDecryptToken(ctx, req, res, m[1]!.toLowerCase());
  }
  if (
    method === 'GET' &&
    (m = new RegExp(`^/console/api/datasets/(${UUID})/keyword-table$`).exec(p))
  ) {
    return handleKeywordTable(ctx, req, res, m[1]!.toLowerCase());
  }
  throw new HttpError(
    404,
    'not_found',
    'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.',
  );
}

/** The api process's HTTP server (gunicorn + Flask in Dify). */
export function createApiServer(ctx: DifyContext): http.Server {
  return http.createServer((req, res) => {
    res.setHeader('X-Version', VERSION);
    res.setHeader('X-Env', ctx.config.deployEnv);
    route(ctx, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        send(res, err.status, { code: err.code, message: err.message, status: err.status });
        return;
      }
      log(
        'ERROR',
        'app.py:875',
        `Exception on ${req.url?.split('?')[0]} [${req.method}]: ${String(err)}`,
      );
      send(res, 500, {
        message: 'Internal Server Error',
        code: 'unknown',
        status: 500,
      });
    });
  });
}

export function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
