// `--scenario walk` (issue 17 §3): walk and decide with nothing to do, at a million files by
// default. A Dify-shaped tree, the journal of a complete copy seeded (seed.ts), and a bucket
// that holds every file: a million uploads take 30–45 min here, so the listing comes from a
// loopback S3 stand-in that answers ListObjectsV2 (prefix, delimiter, pages of 1000,
// encoding-type=url) from the seeded records, and fails every other request. The engine runs
// in its own process against it: wall, CPU per file, peak RSS, and its requests (0 PUT, 0 HEAD).
// The stand-in answers faster than RGW would, so the wall time is the client's side of the work.
// Self-cleaning: tree and state are removed (`--keep-tree` keeps the tree; `--walk-state DIR`
// keeps the seeded state in DIR and reuses it next time, so a 1M tree is seeded once).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { S3Target } from '@dify-storage/s3';
import { SortedRecordReader } from '../../packages/sync/src/state.js';
import { compareKeys } from '../../packages/sync/src/keys.js';
import { difyTree, SPEC_FILE } from './dify-tree.js';
import * as sc from './scenario.js';
import { seedState, stateIdOf } from './seed.js';
import { engineSync } from './tools.js';

interface Listing {
  keys: string[];
  sizes: Float64Array;
  etags: string[];
}

/** The first index whose key `below` does not hold for (keys sorted, `below` monotone). */
function lowerBound(keys: string[], below: (k: string) => boolean): number {
  let a = 0;
  let b = keys.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (below(keys[m]!)) a = m + 1;
    else b = m;
  }
  return a;
}

const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One ListObjectsV2 page of the records, as RGW would answer it. */
function listPage(l: Listing, q: URLSearchParams): string {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const max = Math.min(1000, Number(q.get('max-keys') ?? 1000));
  const token = q.get('continuation-token');
  let i = token ? Number(token) : lowerBound(l.keys, (k) => compareKeys(k, prefix) < 0);
  const out: string[] = [];
  let n = 0;
  while (i < l.keys.length && n < max) {
    const k = l.keys[i]!;
    if (!k.startsWith(prefix)) break;
    const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const cp = k.slice(0, cut + delimiter.length);
      out.push(`<CommonPrefixes><Prefix>${encodeURIComponent(cp)}</Prefix></CommonPrefixes>`);
      i = lowerBound(l.keys, (x) => compareKeys(x, cp) < 0 || x.startsWith(cp));
    } else {
      out.push(
        `<Contents><Key>${encodeURIComponent(k)}</Key><LastModified>2026-12-06T00:00:00.000Z</LastModified><ETag>"${l.etags[i]}"</ETag><Size>${l.sizes[i]}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      i++;
    }
    n++;
  }
  const more = i < l.keys.length && l.keys[i]!.startsWith(prefix);
  return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>walk</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${n}</KeyCount><MaxKeys>${max}</MaxKeys><EncodingType>url</EncodingType><IsTruncated>${more}</IsTruncated>${more ? `<NextContinuationToken>${i}</NextContinuationToken>` : ''}${out.join('')}</ListBucketResult>`;
}

/** The loopback stand-in: ListObjectsV2 and the bucket's location; anything else is a 501 (noted). */
function listServer(l: Listing, others: string[]): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(listPage(l, url.searchParams));
      return;
    }
    if (req.method === 'GET' && url.searchParams.has('location')) {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end('<LocationConstraint>us-east-1</LocationConstraint>');
      return;
    }
    if (others.length < 20) others.push(`${req.method} ${url.search || url.pathname}`);
    res.writeHead(501, { 'content-type': 'application/xml' });
    res.end('<Error><Code>NotImplemented</Code><Message>listing only</Message></Error>');
  });
}

/**
 * The seeded state of a kept `--walk-state` directory, renamed to this run's id (the id holds the
 * stand-in's port, which changes from run to run); false when there is none to reuse.
 */
function reuseState(stateDir: string, id: string): boolean {
  const files = fs.readdirSync(stateDir).filter((f) => f.endsWith('.files.ndjson'));
  if (files.length !== 1) return false;
  const old = files[0]!.slice(0, -'.files.ndjson'.length);
  for (const f of fs.readdirSync(stateDir))
    if (old !== id && f.startsWith(`${old}.`))
      fs.renameSync(path.join(stateDir, f), path.join(stateDir, id + f.slice(old.length)));
  return true;
}

async function loadListing(stateDir: string, id: string): Promise<Listing> {
  const keys: string[] = [];
  const sizes: number[] = [];
  const etags: string[] = [];
  const r = await SortedRecordReader.open(path.join(stateDir, `${id}.files.ndjson`));
  for await (const rec of r.all()) {
    keys.push(rec.key);
    sizes.push(rec.size);
    etags.push(rec.etag);
  }
  await r.close();
  return { keys, sizes: Float64Array.from(sizes), etags };
}

export async function walkScenario(ctx: sc.ScenarioContext): Promise<void> {
  const { log } = ctx;
  const files = Number(ctx.arg('walk-files') ?? 1_000_000);
  const tenants = Number(ctx.arg('tenants') ?? 300);
  const keptState = ctx.arg('walk-state');
  if (keptState) fs.mkdirSync(keptState, { recursive: true, mode: 0o700 });
  const stateDir = keptState ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-bench-walk-'));
  const listing: Listing = { keys: [], sizes: new Float64Array(0), etags: [] };
  const others: string[] = [];
  const server = listServer(listing, others);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const target: S3Target = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    bucket: 'walk',
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret' },
  };
  const started = sc.machineLine();
  const t0 = Date.now();
  const tree = difyTree(ctx.dataDir, files, tenants, log);
  try {
    const genS = (Date.now() - t0) / 1000;
    log(`walk: ${tree.files} files (${genS.toFixed(0)} s); seeding the journal…`);
    const t1 = Date.now();
    if (!keptState || !reuseState(stateDir, stateIdOf(target)))
      await seedState(tree.dir, target, stateDir, log);
    const seedS = (Date.now() - t1) / 1000;
    Object.assign(listing, await loadListing(stateDir, stateIdOf(target)));
    log(`walk: ${listing.keys.length} objects listed by the stand-in; the engine, nothing to do…`);
    const exclude = [SPEC_FILE, '.bench-bytes'];
    const opts = { root: tree.dir, target, stateDir, exclude };
    // Diagnosis: extra node flags for the engine (e.g. `--walk-node-args=--trace-gc`).
    const nodeArgs = (ctx.arg('walk-node-args') ?? '').split(' ').filter(Boolean);
    const r = await engineSync('our engine, nothing to do', opts, undefined, nodeArgs);
    const rows = [r];
    // With the heap capped: whether the peak is live data or garbage V8 has not collected yet.
    const heap = ctx.arg('walk-heap-mib');
    if (heap) {
      log(`walk: again with --max-old-space-size=${heap}…`);
      rows.push(
        await engineSync(`the same, heap capped at ${heap} MiB`, opts, undefined, [
          `--max-old-space-size=${heap}`,
        ]),
      );
    }
    const req = r.requests ?? {};
    const checks = [
      sc.check('nothing to do: files uploaded', r.files, '<=', 0, 0),
      sc.check('nothing to do: PUT', req.PutObject ?? 0, '<=', 0, 0),
      sc.check('nothing to do: HEAD', req.HeadObject ?? 0, '<=', 0, 0),
      sc.check('nothing to do: peak RSS MiB', r.maxRssMiB ?? NaN, '<=', 256, 0),
    ];
    const md = [
      `# Walk and decide with nothing to do, ${tree.files} files (${new Date().toISOString()})`,
      `Start: ${started}. End: ${sc.machineLine()}.`,
      `Tree generated in ${genS.toFixed(0)} s (reused when it existed), journal seeded in ${seedS.toFixed(0)} s. The listing comes from a loopback stand-in (ListObjectsV2 from the seeded records; it answered ${others.length ? others.join(', ') : 'no other request'} with 501).`,
      '',
      sc.mdTable(
        'run|wall s|CPU s|CPU µs/file|peak RSS MiB|uploaded|PUT|HEAD|LIST'.split('|'),
        rows.map((x) => [
          x.tool,
          x.wallS.toFixed(2),
          x.cpuS.toFixed(2),
          ((x.cpuS * 1e6) / tree.files).toFixed(1),
          (x.maxRssMiB ?? NaN).toFixed(0),
          x.ok ? x.files : `failed: ${(x.note ?? '').slice(-120)}`,
          x.requests?.PutObject ?? 0,
          x.requests?.HeadObject ?? 0,
          x.requests?.ListObjectsV2 ?? 0,
        ]),
      ),
      '',
      r.ok ? '' : `The run reported failures: ${r.note ?? ''}`,
      sc.checksTable(checks),
      '',
    ].join('\n');
    sc.saveResults('walk', md, { files: tree.files, row: r, checks }, log);
  } finally {
    server.close();
    if (!keptState) fs.rmSync(stateDir, { recursive: true, force: true });
    if (!ctx.arg('keep-tree')) fs.rmSync(tree.dir, { recursive: true, force: true });
  }
}
