import { describe, expect, it } from '@jest/globals';
import { XMLParser } from 'fast-xml-parser';
import fc from 'fast-check';
import { parseListPage } from '../../src/transport.js';
import { escapeXml, xmlText } from '../../src/xml.js';

// Our S3 XML reader stays (docs/adr/0005: 16× less CPU per listing page); for every answer S3
// writes (named entities, any XML 1.0 character in a key, error bodies) it must read what a
// real XML parser reads. It does not read CDATA sections or attributes: S3 writes neither.
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => name === 'Contents' || name === 'CommonPrefixes',
});
// Characters XML 1.0 can carry (the walk refuses names with others, see keys.ts).
const xmlChar = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
  // eslint-disable-next-line no-control-regex -- the characters XML 1.0 forbids are the point
  .filter((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\r]/.test(s));

describe('xml.ts = fast-xml-parser on S3 answers', () => {
  it('lists the same keys, sizes and ETags', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: xmlChar,
            size: fc.nat(),
            etag: fc.stringMatching(/^[0-9a-f]{32}(-\d{1,4})?$/),
          }),
          {
            minLength: 1,
            maxLength: 20,
          },
        ),
        fc.array(xmlChar, { maxLength: 3 }),
        (objects, prefixes) => {
          let xml =
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>false</IsTruncated>';
          for (const o of objects)
            xml += `<Contents><Key>${escapeXml(o.key)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
          for (const p of prefixes)
            xml += `<CommonPrefixes><Prefix>${escapeXml(p)}</Prefix></CommonPrefixes>`;
          xml += '</ListBucketResult>';
          const ours = parseListPage(xml);
          const lib = (
            parser.parse(xml) as {
              ListBucketResult: {
                Contents?: { Key: string; Size: string; ETag: string }[];
                CommonPrefixes?: { Prefix: string }[];
              };
            }
          ).ListBucketResult;
          expect(ours.objects.map((o) => [o.key, o.size, o.etag])).toEqual(
            (lib.Contents ?? []).map((c) => [
              String(c.Key),
              Number(c.Size),
              String(c.ETag).replace(/^"|"$/g, ''),
            ]),
          );
          expect(ours.prefixes).toEqual((lib.CommonPrefixes ?? []).map((c) => String(c.Prefix)));
          expect(ours.nextToken).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads the same Code and Message from an error body, whatever else it holds', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z]{1,30}$/),
        xmlChar,
        fc.dictionary(fc.stringMatching(/^[A-Z][A-Za-z]{0,12}$/), xmlChar, { maxKeys: 4 }),
        (code, message, extra) => {
          delete extra.Code;
          delete extra.Message;
          let xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>`;
          for (const [k, v] of Object.entries(extra)) xml += `<${k}>${escapeXml(v)}</${k}>`;
          xml += '</Error>';
          const lib = (parser.parse(xml) as { Error: { Code: string; Message: string } }).Error;
          expect([xmlText(xml, 'Code'), xmlText(xml, 'Message')]).toEqual([
            String(lib.Code),
            String(lib.Message),
          ]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
