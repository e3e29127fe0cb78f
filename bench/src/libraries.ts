// What stays hand-written (docs/adr/0005): CPU of our SigV4 signer, S3 XML parsing and HTTP/1.1
// client against @smithy/signature-v4, fast-xml-parser and undici, in one process, same inputs.
// Usage: node --conditions=source --import tsx bench/src/libraries.ts [--requests N]
// (the HTTP rows need DSM_S3_* of the proving ground; without them they are left out).
import { createHash, randomBytes } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLParser } from 'fast-xml-parser';
import { Pool } from 'undici';
import { S3Transport } from '@dify-storage/sync';
import { Http1Pool } from '../../packages/sync/src/http1.js';
import { SigV4Signer } from '../../packages/sync/src/sigv4.js';
import { parseListPage } from '../../packages/sync/src/transport.js';

const S3 = { region: 'us-east-1', service: 's3' };
const creds = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

/** CPU µs per call of `f`, best of 3 rounds of `n` calls (after a warm-up round). */
async function cpuPerCall(n: number, f: (i: number) => unknown): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 4; round++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await f(i);
    const c = process.cpuUsage(c0);
    if (round > 0) best = Math.min(best, (c.user + c.system) / n);
  }
  return best;
}

function putHeaders(i: number): Record<string, string> {
  return {
    host: '127.0.0.1:7480',
    'content-length': '34816',
    'content-md5': 'XUFAKrxLKna5cZ2REBfFkg==',
    'x-amz-meta-mtime': '1700000000.123456789',
    'x-amz-meta-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'x-amz-request-seq': String(i),
  };
}

export async function signing(n = 20_000): Promise<{ ours: number; smithy: number }> {
  const ours = new SigV4Signer('us-east-1');
  // S3 signs the path as given (already encoded), hence uriEscapePath: false.
  const sha256 = Hash.bind(null, 'sha256');
  const smithy = new SignatureV4({ credentials: creds, sha256, uriEscapePath: false, ...S3 });
  const path =
    '/bucket/upload_files/5b1c7a3e-1f0e-4a55-9d1c-3c3c3c3c3c3c/0f8e7d6c-5b4a-4392-8a7b-6c5d4e3f2a1b.pdf';
  return {
    ours: await cpuPerCall(n, (i) =>
      ours.sign(creds, 'PUT', path, '', putHeaders(i), 'UNSIGNED-PAYLOAD'),
    ),
    smithy: await cpuPerCall(n, (i) =>
      smithy.sign({
        method: 'PUT',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 7480,
        path,
        query: {},
        headers: { ...putHeaders(i), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      }),
    ),
  };
}

/** A ListObjectsV2 page of 1000 keys as RGW writes it (url-encoded keys). */
export function listPageXml(keys = 1000): string {
  let xml =
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>';
  for (let i = 0; i < keys; i++)
    xml += `<Contents><Key>upload_files/t${i % 7}/${randomBytes(16).toString('hex')}.pdf</Key><LastModified>2026-12-06T03:00:00.000Z</LastModified><ETag>&quot;${randomBytes(16).toString('hex')}&quot;</ETag><Size>${i * 37}</Size><StorageClass>STANDARD</StorageClass><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Type>Normal</Type></Contents>`;
  return `${xml}</ListBucketResult>`;
}

export function xmlParsers(): XMLParser {
  return new XMLParser({
    ignoreAttributes: true,
    parseTagValue: false,
    isArray: (name) => name === 'Contents' || name === 'CommonPrefixes',
  });
}

export async function xml(n = 300): Promise<{ ours: number; library: number }> {
  const page = listPageXml();
  const parser = xmlParsers();
  return {
    ours: await cpuPerCall(n, () => parseListPage(page)),
    library: await cpuPerCall(n, () => {
      const r = parser.parse(page) as {
        ListBucketResult: {
          Contents: { Key: string; Size: string; ETag: string; LastModified: string }[];
        };
      };
      return r.ListBucketResult.Contents.map((c) => ({
        key: decodeURIComponent(c.Key.replace(/\+/g, '%20')),
        size: Number(c.Size),
        etag: c.ETag.replace(/^"|"$/g, ''),
        lastModified: c.LastModified,
      }));
    }),
  };
}

/** PUTs of 34 KiB bodies, `conc` in flight, by our client and by undici: CPU µs and files/s. */
export async function http(
  n: number,
  conc = 32,
): Promise<Record<'ours' | 'undici', { cpuUs: number; perSec: number }>> {
  const env = process.env;
  const endpoint = new URL(env.DSM_S3_ENDPOINT!);
  const bucket = `libs-${Date.now().toString(36)}`;
  const target = {
    endpoint: endpoint.origin,
    region: 'us-east-1',
    bucket,
    forcePathStyle: true,
    credentials: { accessKeyId: env.DSM_S3_ACCESS_KEY!, secretAccessKey: env.DSM_S3_SECRET_KEY! },
  };
  const t = new S3Transport(target);
  await t.createBucket();
  t.close();
  const signer = new SigV4Signer('us-east-1');
  const body = randomBytes(34 * 1024);
  const md5 = createHash('md5').update(body).digest('base64');
  const request = (i: number, tag: string): { path: string; headers: Record<string, string> } => {
    const path = `/${bucket}/${tag}/${i}`;
    const headers: Record<string, string> = {
      host: endpoint.host,
      'content-length': String(body.length),
      'content-md5': md5,
    };
    signer.sign(target.credentials, 'PUT', path, '', headers, 'UNSIGNED-PAYLOAD');
    return { path, headers };
  };
  const run = async (
    send: (i: number) => Promise<number>,
  ): Promise<{ cpuUs: number; perSec: number }> => {
    let next = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: conc }, async () => {
        for (let i = next++; i < n; i = next++)
          if ((await send(i)) !== 200) throw new Error('PUT failed');
      }),
    );
    const c = process.cpuUsage(c0);
    return { cpuUs: (c.user + c.system) / n, perSec: n / ((performance.now() - t0) / 1000) };
  };
  const ours = new Http1Pool(endpoint.hostname, Number(endpoint.port), conc, 60_000);
  const pool = new Pool(endpoint.origin, { connections: conc, pipelining: 1 });
  const rows = { ours: { cpuUs: 0, perSec: 0 }, undici: { cpuUs: 0, perSec: 0 } };
  try {
    for (let round = 0; round < 2; round++) {
      // Alternated, so that the server's and the machine's drift hits both alike.
      const o = await run(async (i) => {
        const r = request(i, `o${round}`);
        return (await ours.request('PUT', r.path, r.headers, body)).status;
      });
      const u = await run(async (i) => {
        const r = request(i, `u${round}`);
        const res = await pool.request({ method: 'PUT', path: r.path, headers: r.headers, body });
        await res.body.dump();
        return res.statusCode;
      });
      if (round > 0) Object.assign(rows, { ours: o, undici: u });
    }
  } finally {
    ours.destroy();
    await pool.close();
  }
  return rows;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--requests');
  const n = i > 0 ? Number(process.argv[i + 1]) : 3000;
  const s = await signing();
  process.stdout.write(
    `signing µs/request: ours ${s.ours.toFixed(1)}, @smithy/signature-v4 ${s.smithy.toFixed(1)} (${(s.smithy / s.ours).toFixed(1)}×)\n`,
  );
  const x = await xml();
  process.stdout.write(
    `ListObjectsV2 page of 1000 keys, µs: ours ${x.ours.toFixed(0)}, fast-xml-parser ${x.library.toFixed(0)} (${(x.library / x.ours).toFixed(1)}×)\n`,
  );
  if (process.env.DSM_S3_ENDPOINT) {
    const h = await http(n);
    process.stdout.write(
      `PUT 34 KiB ×${n}, c=32: ours ${h.ours.cpuUs.toFixed(0)} µs CPU/req, ${h.ours.perSec.toFixed(0)}/s; undici ${h.undici.cpuUs.toFixed(0)} µs CPU/req, ${h.undici.perSec.toFixed(0)}/s (CPU ${(h.undici.cpuUs / h.ours.cpuUs).toFixed(2)}×)\n`,
    );
  }
}

if (process.argv[1]?.endsWith('libraries.ts'))
  main().catch((e: unknown) => {
    process.stderr.write(
      `libraries failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  });
