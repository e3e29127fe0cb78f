import { HttpError } from '../context.js';

export interface FilePart {
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface ParsedForm {
  fields: Map<string, string>;
  files: FilePart[];
}

function headerParam(header: string, name: string): string | undefined {
  // filename*=UTF-8''percent-encoded wins over filename="…" (RFC 6266), as in Werkzeug.
  const star = new RegExp(`;\\s*${name}\\*=([^']*)'[^']*'([^;]*)`, 'i').exec(header);
  if (star) return decodeURIComponent(star[2]!.trim());
  const quoted = new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`, 'i').exec(header);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, '$1').replace(/%22/g, '"');
  const bare = new RegExp(`;\\s*${name}=([^;]*)`, 'i').exec(header);
  return bare ? bare[1]!.trim() : undefined;
}

/** A small multipart/form-data parser over a fully buffered body (Dify reads uploads whole). */
export function parseMultipart(contentType: string | undefined, body: Buffer): ParsedForm {
  const m = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  if (!m) throw new HttpError(400, 'no_file_uploaded', 'Please upload your file.');
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const fields = new Map<string, string>();
  const files: FilePart[] = [];
  let pos = body.indexOf(boundary);
  while (pos !== -1) {
    let start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd === -1) break;
    const next = body.indexOf(boundary, headerEnd + 4);
    if (next === -1) throw new HttpError(400, 'invalid_param', 'Malformed multipart body');
    const headers = body.subarray(start, headerEnd).toString('utf8').split('\r\n');
    const data = body.subarray(headerEnd + 4, next - 2); // strip the CRLF before the boundary
    let disposition = '';
    let type = '';
    for (const h of headers) {
      const i = h.indexOf(':');
      const name = h.slice(0, i).trim().toLowerCase();
      if (name === 'content-disposition') disposition = h.slice(i + 1).trim();
      if (name === 'content-type') type = h.slice(i + 1).trim();
    }
    const field = headerParam(disposition, 'name') ?? '';
    const filename = headerParam(disposition, 'filename');
    if (filename !== undefined) {
      files.push({
        field,
        filename,
        contentType: type.split(';')[0]!.trim(),
        data: Buffer.from(data),
      });
    } else {
      fields.set(field, data.toString('utf8'));
    }
    pos = next;
  }
  return { fields, files };
}
