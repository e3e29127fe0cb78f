import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '@dify-storage/s3';
import {
  createTestBucket,
  deleteTestBucket,
  testTlsS3Settings,
} from '../../../action-tests/src/proving-ground/s3.js';
import { cli } from './support.js';

/** migrate and verify against the proving ground's TLS endpoint, whose CA no client trusts by default. */
describe('an S3 endpoint with a private CA', () => {
  const tls = testTlsS3Settings();
  let client: S3Client;
  let bucket: string;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const files: Record<string, string> = {
    'upload_files/t1/a.txt': 'hello over TLS',
    'upload_files/t1/文档.pdf': 'x'.repeat(200_000),
    'privkeys/t1/private.pem': '-----BEGIN RSA PRIVATE KEY-----\nabc\n',
  };

  beforeAll(async () => {
    client = createS3Client(tls);
    bucket = await createTestBucket(client, 'ca');
    dir = await mkdtemp(path.join(os.tmpdir(), 'private-ca-'));
    for (const [key, body] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, 'storage', key)), { recursive: true });
      await writeFile(path.join(dir, 'storage', key), body);
    }
    env = {
      DIFY_STORAGE_ACCESS_KEY_ID: tls.credentials!.accessKeyId,
      DIFY_STORAGE_SECRET_ACCESS_KEY: tls.credentials!.secretAccessKey,
    };
  });
  afterAll(async () => {
    await deleteTestBucket(client, bucket).catch(() => undefined);
    client.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const migrate = (mode: string, extra: string[] = [], e: NodeJS.ProcessEnv = env) =>
    cli(
      [
        'migrate',
        '--storage-path',
        path.join(dir, 'storage'),
        '--bucket',
        bucket,
        '--endpoint',
        tls.endpoint!,
        '--mode',
        mode,
        '--state-dir',
        path.join(dir, 'state'),
        '--report-path',
        path.join(dir, `report-${mode}.json`),
        ...extra,
      ],
      e,
    );

  it('refuses without the CA, naming the certificate problem, and copies nothing', async () => {
    const r = await migrate('bulk');
    expect(r.code).toBe(4); // could not check
    expect(r.stderr).toContain(`the TLS certificate of ${tls.endpoint} is not trusted`);
    // OpenSSL names it by what is missing: the issuer of the server's certificate.
    expect(r.stderr).toMatch(
      /\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    expect(r.stderr).toContain("'ca-bundle'");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const v = await cli(
      [
        'verify',
        '--bucket',
        bucket,
        '--endpoint',
        tls.endpoint!,
        '--report-path',
        path.join(dir, 'v.json'),
      ],
      env,
    );
    expect(v.code).toBe(4);
    expect(v.stderr).toContain(`the TLS certificate of ${tls.endpoint} is not trusted`);
  });

  it('copies and verifies every byte with the CA given as a file, then as PEM content', async () => {
    const copied = await migrate('bulk', ['--ca-bundle', tls.caFile]);
    expect(copied.code).toBe(0);
    for (const [key, body] of Object.entries(files)) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await out.Body!.transformToString()).toBe(body);
    }
    // PEM content through the environment (as a secret or a variable would carry it).
    const pem = await readFile(tls.caFile, 'utf8');
    const verified = await migrate('verify', ['--read-back', 'all'], {
      ...env,
      DIFY_STORAGE_CA_BUNDLE: pem,
    });
    expect(verified.code).toBe(0);
    const report = JSON.parse(await readFile(path.join(dir, 'report-verify.json'), 'utf8'));
    expect(report.counts).toMatchObject({ files: 3, missing: 0, size: 0, hash: 0, readBack: 3 });
  });

  it('rejects a ca-bundle that is not a certificate, before any request (exit 2)', async () => {
    const bad = path.join(dir, 'not-a-cert.pem');
    await writeFile(bad, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    const r = await migrate('bulk', ['--ca-bundle', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Input 'ca-bundle': certificate 1 of 1 does not parse");
    const missing = await migrate('bulk', ['--ca-bundle', path.join(dir, 'nope.pem')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      "Input 'ca-bundle' is neither PEM content nor a readable file",
    );
  });
});
