/**
 * Just enough XML for S3 responses (flat, well-known elements). A full parser would cost more CPU
 * than the listing it reads.
 */
const ENTITY = /&(?:#x([0-9a-fA-F]+)|#(\d+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeXml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (_m, hex: string, dec: string, name: string) =>
    hex
      ? String.fromCodePoint(parseInt(hex, 16))
      : dec
        ? String.fromCodePoint(parseInt(dec, 10))
        : NAMED[name]!,
  );
}

/** Text of the first `<tag>` inside `xml`, decoded; undefined when absent. */
export function xmlText(xml: string, tag: string): string | undefined {
  const open = xml.indexOf(`<${tag}>`);
  if (open < 0) {
    if (xml.includes(`<${tag}/>`)) return '';
    return undefined;
  }
  const start = open + tag.length + 2;
  const end = xml.indexOf(`</${tag}>`, start);
  if (end < 0) return undefined;
  return decodeXml(xml.slice(start, end));
}

/** Raw (undecoded) bodies of every `<tag>…</tag>` block. */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const open = `<${tag}>`;
  const close = `</${tag}>`;
  let i = 0;
  for (;;) {
    const s = xml.indexOf(open, i);
    if (s < 0) break;
    const e = xml.indexOf(close, s + open.length);
    if (e < 0) break;
    out.push(xml.slice(s + open.length, e));
    i = e + close.length;
  }
  return out;
}

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}
