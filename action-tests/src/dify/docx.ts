/**
 * Word documents: a minimal .docx writer (for tests and the seeder) and Dify 1.3.0's
 * WordExtractor as the worker runs it (api/core/rag/extractor/word_extractor.py), images and all:
 * every relationship of the main part whose target contains "image" becomes an object
 * `image_files/{tenant}/{uuid4}.{ext}` and an `upload_files` row with size 0 and no hash.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { naiveUtc } from './db.js';
import { guessExtension, guessMimeType, imageFileKey } from './keys.js';
import { PythonError } from './log.js';
import type { Db } from './schema.js';
import type { Storage } from './storage/index.js';
import { readZip, writeZip } from './zip.js';

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
const R = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const A = 'http://schemas.openxmlformats.org/drawingml/2006/main';
const IMAGE_REL = `${R}/image`;

/** One paragraph: text, or an image (embedded bytes at `word/<target>`, or an external URL). */
export type DocxParagraph =
  { text: string } | { image: { target: string; data: Buffer } } | { image: { url: string } };

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unesc = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** A .docx python-docx opens: content types, package and document relationships, media. */
export function buildDocx(paragraphs: DocxParagraph[]): Buffer {
  const rels: string[] = [];
  const media: [string, Buffer][] = [];
  const body = paragraphs.map((p, i) => {
    if ('text' in p) return `<w:p><w:r><w:t xml:space="preserve">${esc(p.text)}</w:t></w:r></w:p>`;
    const id = `rId${i + 1}`;
    if ('url' in p.image) {
      rels.push(
        `<Relationship Id="${id}" Type="${IMAGE_REL}" Target="${esc(p.image.url)}" TargetMode="External"/>`,
      );
    } else {
      rels.push(`<Relationship Id="${id}" Type="${IMAGE_REL}" Target="${esc(p.image.target)}"/>`);
      media.push([`word/${p.image.target}`, p.image.data]);
    }
    const attr = 'url' in p.image ? 'r:link' : 'r:embed';
    return `<w:p><w:r><w:drawing><wp:inline><a:graphic><a:graphicData><pic:pic><pic:blipFill><a:blip ${attr}="${id}"/></pic:blipFill></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>`;
  });
  const defaults = [...new Set(media.map(([n]) => path.extname(n).slice(1)))]
    .map(
      (e) =>
        `<Default Extension="${e}" ContentType="${guessMimeType(e) ?? 'application/octet-stream'}"/>`,
    )
    .join('');
  const xml = (s: string) =>
    Buffer.from(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n${s}`);
  return writeZip([
    [
      '[Content_Types].xml',
      xml(
        `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>${defaults}<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
      ),
    ],
    [
      '_rels/.rels',
      xml(
        `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${R}/officeDocument" Target="word/document.xml"/></Relationships>`,
      ),
    ],
    [
      'word/document.xml',
      xml(
        `<w:document xmlns:w="${W}" xmlns:r="${R}" xmlns:a="${A}" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body>${body.join('')}</w:body></w:document>`,
      ),
    ],
    [
      'word/_rels/document.xml.rels',
      xml(
        `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels.join('')}</Relationships>`,
      ),
    ],
    ...media,
  ]);
}

interface Relationship {
  id: string;
  target: string;
  external: boolean;
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:]+)="([^"]*)"/g)) out[m[1]!] = unesc(m[2]!);
  return out;
}

/** `doc.part.rels`, in document order (python-docx keeps the order of the .rels file). */
function documentRels(parts: Map<string, Buffer>): Relationship[] {
  const xml = parts.get('word/_rels/document.xml.rels')?.toString('utf8') ?? '';
  return [...xml.matchAll(/<Relationship\b[^>]*>/g)].map((m) => {
    const a = attributes(m[0]);
    return { id: a.Id ?? '', target: a.Target ?? '', external: a.TargetMode === 'External' };
  });
}

export interface DocxDeps {
  db: Db;
  storage: Storage;
  storageType: string;
  filesUrl: string;
  /** Seeder hooks: deterministic uuids (row id, then key uuid, per image) and time. */
  uuid?: () => string;
  now?: string;
  /** `ssrf_proxy.get` for linked images. */
  fetch?: (url: string) => Promise<{ status: number; contentType: string; body: Buffer }>;
}

export interface ExtractedImage {
  id: string;
  key: string;
}

/**
 * WordExtractor._extract_images_from_docx (word_extractor.py:82-131): for each relationship whose
 * target_ref contains "image": an embedded one keeps the target's extension as it is
 * (`split(".")[-1]`, case kept); a linked one is fetched and gets
 * `mimetypes.guess_extension(Content-Type)`, dot included, hence `…..png` (skipped when none
 * is known or the answer is not 200). Saved through `storage`, recorded with size 0. The rows
 * are committed one by one, so whatever was saved before a failure stays.
 */
async function extractImages(
  deps: DocxDeps,
  parts: Map<string, Buffer>,
  owner: { tenant_id: string; created_by: string },
): Promise<{ map: Map<string, string>; images: ExtractedImage[] }> {
  const map = new Map<string, string>();
  const images: ExtractedImage[] = [];
  const fetchImage = deps.fetch ?? defaultFetch;
  for (const rel of documentRels(parts)) {
    if (!rel.target.includes('image')) continue;
    let ext: string;
    let body: Buffer;
    if (rel.external) {
      const res = await fetchImage(rel.target);
      if (res.status !== 200) continue;
      const guessed = guessExtension(res.contentType);
      if (guessed === undefined) continue;
      [ext, body] = [guessed, res.body];
    } else {
      const part = path.posix.normalize(path.posix.join('word', rel.target)).replace(/^\/+/, '');
      ext = rel.target.split('.').pop()!;
      body = parts.get(part) ?? Buffer.alloc(0);
    }
    const uuid = deps.uuid ?? randomUUID;
    const id = uuid();
    const key = imageFileKey(owner.tenant_id, uuid(), ext);
    await deps.storage.save(key, body);
    const now = deps.now ?? naiveUtc();
    await deps.db.query(
      `INSERT INTO upload_files (id, tenant_id, storage_type, key, name, size, extension, mime_type,
         created_by_role, created_by, created_at, used, used_by, used_at)
       VALUES ($1, $2, $3, $4, $4, 0, $5, $6, 'account', $7, $8, true, $7, $8)`,
      [
        id,
        owner.tenant_id,
        deps.storageType,
        key,
        ext,
        guessMimeType(path.extname(key).slice(1)) ?? '',
        owner.created_by,
        now,
      ],
    );
    images.push({ id, key });
    // `image_map[rel.target_part]`: python-docx 1.1.2 (docx/opc/rel.py) raises for an external
    // relationship, after the object and its row are committed. A linked image thus leaves its
    // `..png` row behind and the document's indexing fails.
    if (rel.external) {
      throw new PythonError(
        'ValueError',
        'target_part property on _Relationship is undefined when target mode is External',
      );
    }
    map.set(rel.id, `![image](${deps.filesUrl}/files/${id}/file-preview)`);
  }
  return { map, images };
}

async function defaultFetch(url: string) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/**
 * WordExtractor.parse_docx for paragraphs (word_extractor.py:207-274): each run contributes its
 * drawings' image links, then its stripped text; an empty paragraph is "\n"; paragraphs joined
 * by "\n". Tables and hyperlinks are not emulated.
 */
export async function extractDocx(
  deps: DocxDeps,
  content: Buffer,
  owner: { tenant_id: string; created_by: string },
): Promise<{ text: string; images: ExtractedImage[] }> {
  const parts = readZip(content);
  const document = parts.get('word/document.xml');
  if (!document)
    throw new Error('KeyError: "There is no item named \'word/document.xml\' in the archive"');
  const { map, images } = await extractImages(deps, parts, owner);
  const content_: string[] = [];
  for (const p of document.toString('utf8').matchAll(/<w:p\b[^>]*?(?:\/>|>([\s\S]*?)<\/w:p>)/g)) {
    const pieces: string[] = [];
    for (const run of (p[1] ?? '').matchAll(/<w:r\b[^>]*>([\s\S]*?)<\/w:r>/g)) {
      for (const blip of run[1]!.matchAll(/<a:blip\b[^>]*r:embed="([^"]*)"/g)) {
        const link = map.get(blip[1]!);
        if (link) pieces.push(link);
      }
      const text = [...run[1]!.matchAll(/<w:t\b[^>]*>([^<]*)<\/w:t>/g)]
        .map((t) => unesc(t[1]!))
        .join('');
      if (text.trim()) pieces.push(text.trim());
    }
    const paragraph = pieces.join('');
    content_.push(paragraph.trim() ? paragraph : '\n');
  }
  return { text: content_.join('\n'), images };
}
