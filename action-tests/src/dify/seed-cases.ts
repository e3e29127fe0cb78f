import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDocx, extractDocx } from './docx.js';
import { uploadExtension, uploadFileKey, imageFileKey, keywordFileKey } from './keys.js';
import type { Db } from './schema.js';
import { Storage } from './storage/base.js';
import { OpenDalFsStorage, normalizePath } from './storage/opendal-fs.js';

/**
 * What real Dify 1.3.0 installations hold beyond the plain rows (dify-1.3.0-fidelity.md §1-8),
 * one of each, so the demo and the end-to-end tests meet them:
 * - `text`: create-by-text documents in Chinese and Japanese (size = characters, no hash);
 * - `spaced`: API uploads whose file name ends in white space (`合同.pdf `, NBSP, U+3000), so the
 *   key does and the file on disk (OpenDAL trims) does not;
 * - `doubleSlash`: a key with `//` (an upload made with no current tenant);
 * - `image`: a linked docx image, `…..png`, size 0, no hash;
 * - `docx`: a Word upload and the images the worker's WordExtractor stored from it
 *   (`image_files/…` with the extension as written, `png` and `JPEG`, size 0, no hash);
 * - `broken`: rows whose file was gone before any migration (an API upload and a docx image);
 * - `keyword`: a keyword file of a dataset whose keyword table is not in the database.
 */
export interface SeededCases {
  text: { id: string; key: string; text: string }[];
  spaced: { id: string; key: string }[];
  doubleSlash: { id: string; key: string }[];
  image: { id: string; key: string }[];
  docx: { id: string; key: string; images: { id: string; key: string }[] }[];
  broken: { id: string; key: string }[];
  keyword: { datasetId: string; key: string }[];
}

interface CaseTenant {
  id: string;
  accountId: string;
  datasetId: string;
}

const TEXTS = [
  '迁移到对象存储之后，每一份文档都必须还能打开。这是中文的知识库文档。',
  'ストレージ移行のテスト文書です。日本語のテキスト。',
];
const SPACED_NAMES = ['合同.pdf ', 'notes.txt\u00a0', '報告.md\u3000'];

/** A uuid4 derived from the seed and a label: the same seed gives the same cases. */
function caseUuid(seed: string, label: string): string {
  const b = createHash('sha256').update(`case:${seed}:${label}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const sha3 = (b: Buffer) => createHash('sha3-256').update(b).digest('hex');

/** Writes a file where OpenDAL fs would: `<root>/<normalize_path(key)>`. */
async function writeAtFsPath(root: string, key: string, body: Buffer): Promise<void> {
  const file = path.join(root, normalizePath(key));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, body);
}

/** Seeds the cases into the first tenant; returns them with the bytes and files written. */
export async function seedCases(
  db: Db,
  root: string,
  seed: string,
  tenant: CaseTenant,
  createdAt: string,
): Promise<{ cases: SeededCases; files: number; bytes: number }> {
  const cases: SeededCases = {
    text: [],
    spaced: [],
    doubleSlash: [],
    image: [],
    docx: [],
    broken: [],
    keyword: [],
  };
  let files = 0;
  let bytes = 0;
  const insert = async (
    label: string,
    key: string,
    o: { name: string; ext: string; mime: string; size: number; hash: string | null },
  ) => {
    const id = caseUuid(seed, `row:${label}`);
    await db.query(
      `INSERT INTO upload_files (id, tenant_id, storage_type, key, name, size, extension, mime_type,
         created_by_role, created_by, created_at, used, hash, source_url)
       VALUES ($1, $2, 'opendal', $3, $4, $5, $6, $7, 'account', $8, $9, $10, $11, '')`,
      [
        id,
        tenant.id,
        key,
        o.name,
        o.size,
        o.ext,
        o.mime,
        tenant.accountId,
        createdAt,
        o.hash === null,
        o.hash,
      ],
    );
    return id;
  };
  const file = async (key: string, body: Buffer) => {
    await writeAtFsPath(root, key, body);
    files += 1;
    bytes += body.length;
  };
  // FileService.upload_text (file_service.py:116-146): size = len(text), hash None.
  for (const [i, text] of TEXTS.entries()) {
    const key = uploadFileKey(tenant.id, caseUuid(seed, `text:${i}`), 'txt');
    const body = Buffer.from(text, 'utf8');
    const id = await insert(`text:${i}`, key, {
      name: `文档 ${i + 1}`,
      ext: 'txt',
      mime: 'text/plain',
      size: [...text].length,
      hash: null,
    });
    await file(key, body);
    cases.text.push({ id, key, text });
  }
  // FileService.upload_file (file_service.py:42,62,88): the extension keeps its white space.
  for (const [i, name] of SPACED_NAMES.entries()) {
    const ext = uploadExtension(name);
    const key = uploadFileKey(tenant.id, caseUuid(seed, `spaced:${i}`), ext);
    const body = Buffer.from(`${name}: a file whose key ends in white space\n`);
    const id = await insert(`spaced:${i}`, key, {
      name,
      ext,
      mime: 'application/octet-stream',
      size: body.length,
      hash: sha3(body),
    });
    await file(key, body);
    cases.spaced.push({ id, key });
  }
  {
    const key = uploadFileKey('', caseUuid(seed, 'slash'), 'png');
    const body = Buffer.from('an upload made with no current tenant: upload_files//…\n');
    const id = await insert('slash', key, {
      name: 'logo.png',
      ext: 'png',
      mime: 'image/png',
      size: body.length,
      hash: sha3(body),
    });
    await file(key, body);
    cases.doubleSlash.push({ id, key });
  }
  // WordExtractor (word_extractor.py:91-125): linked image, `..png`, size 0, no hash.
  {
    const key = imageFileKey(tenant.id, caseUuid(seed, 'image'), '.png');
    const body = createHash('sha512').update(`image:${seed}`).digest();
    const id = await insert('image', key, {
      name: key,
      ext: '.png',
      mime: 'image/png',
      size: 0,
      hash: null,
    });
    await file(key, body);
    cases.image.push({ id, key });
  }
  // WordExtractor (word_extractor.py:82-131) run on an uploaded .docx, as the worker does.
  {
    const body = buildDocx([
      { text: '迁移前的图文文档。' },
      { image: { target: 'media/image1.png', data: createHash('sha512').update('p').digest() } },
      { image: { target: 'media/image2.JPEG', data: createHash('sha512').update('j').digest() } },
    ]);
    const key = uploadFileKey(tenant.id, caseUuid(seed, 'docx'), 'docx');
    const id = await insert('docx', key, {
      name: '图文 说明.docx',
      ext: 'docx',
      mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      size: body.length,
      hash: sha3(body),
    });
    await file(key, body);
    let n = 0;
    const storage = new Storage('opendal', await OpenDalFsStorage.create(root, root));
    const { images } = await extractDocx(
      {
        db,
        storage,
        storageType: 'opendal',
        filesUrl: '',
        uuid: () => caseUuid(seed, `docx:image:${n++}`),
        now: createdAt,
      },
      body,
      { tenant_id: tenant.id, created_by: tenant.accountId },
    );
    for (const image of images) {
      const written = await readFile(path.join(root, normalizePath(image.key)));
      [files, bytes] = [files + 1, bytes + written.length];
    }
    cases.docx.push({ id, key, images });
  }
  // Rows whose file was deleted long before the migration: an API upload (with its hash, so the
  // data identity sample meets it; identity.ts takes it for a broken reference, not a wrong
  // directory) and a docx image.
  const gone = Buffer.from('deleted by hand long ago');
  for (const [label, key, size, hash] of [
    [
      'broken:upload',
      uploadFileKey(tenant.id, caseUuid(seed, 'broken:upload'), 'txt'),
      gone.length,
      sha3(gone),
    ],
    ['broken:image', imageFileKey(tenant.id, caseUuid(seed, 'broken:image'), 'png'), 0, null],
  ] as const) {
    const id = await insert(label, key, {
      name: 'gone',
      ext: 'pdf',
      mime: 'application/pdf',
      size,
      hash,
    });
    cases.broken.push({ id, key });
  }
  // Jieba with KEYWORD_DATA_SOURCE_TYPE=file (jieba.py:129-143).
  {
    const key = keywordFileKey(tenant.id, tenant.datasetId);
    const body = Buffer.from(JSON.stringify({ __set__: 'dict', __data__: { 迁移: ['node-1'] } }));
    await db.query(
      `INSERT INTO dataset_keyword_tables (id, dataset_id, keyword_table, data_source_type) VALUES ($1, $2, '', 'file')`,
      [caseUuid(seed, 'keyword'), tenant.datasetId],
    );
    await file(key, body);
    cases.keyword.push({ datasetId: tenant.datasetId, key });
  }
  return { cases, files, bytes };
}
