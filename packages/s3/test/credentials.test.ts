import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  createAwsCredentialChain,
  CredentialsCache,
  NoCredentialsError,
  REFRESH_MARGIN_MS,
  type S3Credentials,
} from '@dify-storage/s3';

const KEYS = { accessKeyId: 'AKIASTATIC', secretAccessKey: 'static-secret' };

describe('CredentialsCache', () => {
  it('gives static keys as they are', async () => {
    const cache = new CredentialsCache(KEYS);
    expect(cache.refreshable).toBe(false);
    expect(await cache.get()).toBe(KEYS);
    cache.invalidate();
    expect(await cache.get()).toBe(KEYS);
  });

  it('asks a provider again only when what it gave is about to expire, once for concurrent callers', async () => {
    let now = 1_000_000;
    let calls = 0;
    const provider = async (): Promise<S3Credentials> => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return {
        accessKeyId: `AKIA${calls}`,
        secretAccessKey: 's',
        sessionToken: `token-${calls}`,
        expiration: new Date(now + REFRESH_MARGIN_MS + 60_000),
      };
    };
    const cache = new CredentialsCache(provider, () => now);
    const first = await Promise.all([cache.get(), cache.get(), cache.get()]);
    expect(calls).toBe(1);
    expect(first.map((c) => c.accessKeyId)).toEqual(['AKIA1', 'AKIA1', 'AKIA1']);
    now += 59_000;
    expect((await cache.get()).accessKeyId).toBe('AKIA1');
    now += 2_000; // now within the margin before expiry
    expect((await cache.get()).sessionToken).toBe('token-2');
    expect(calls).toBe(2);
    cache.invalidate();
    expect((await cache.get()).accessKeyId).toBe('AKIA3');
  });

  it('lets the next request try again after a provider failed', async () => {
    let fail = true;
    const cache = new CredentialsCache(async () => {
      if (fail) throw new Error('metadata service down');
      return KEYS;
    });
    await expect(cache.get()).rejects.toThrow('metadata service down');
    fail = false;
    expect(await cache.get()).toBe(KEYS);
  });
});

/** The AWS chain reads process.env: each test sets only what it means, IMDS off (loopback only). */
describe('the AWS credential chain', () => {
  const saved = { ...process.env };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dsm-chain-'));
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    writeFileSync(path.join(dir, 'empty'), '');
    Object.assign(process.env, {
      AWS_CONFIG_FILE: path.join(dir, 'empty'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'empty'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
    });
  });
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes keys and a session token from the environment', async () => {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIAENV',
      AWS_SECRET_ACCESS_KEY: 'env-secret',
      AWS_SESSION_TOKEN: 'env-token',
    });
    expect(await createAwsCredentialChain()()).toMatchObject({
      accessKeyId: 'AKIAENV',
      secretAccessKey: 'env-secret',
      sessionToken: 'env-token',
    });
  });

  it('takes a named profile from the shared credentials file', async () => {
    const file = path.join(dir, 'credentials');
    writeFileSync(
      file,
      '[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other\n' +
        '[migration]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n',
    );
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: 'migration' });
    expect(await createAwsCredentialChain()()).toMatchObject({
      accessKeyId: 'AKIAPROFILE',
      secretAccessKey: 'profile-secret',
    });
  });

  it('exchanges a web identity token (IRSA) at STS for expiring credentials', async () => {
    let form = '';
    const sts = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        form = body;
        res.setHeader('content-type', 'text/xml');
        res.end(
          `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAIRSA</AccessKeyId><SecretAccessKey>irsa-secret</SecretAccessKey><SessionToken>irsa-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/migrate/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
        );
      });
    });
    await new Promise<void>((r) => sts.listen(0, '127.0.0.1', r));
    try {
      const token = path.join(dir, 'token');
      writeFileSync(token, 'projected-service-account-token');
      Object.assign(process.env, {
        AWS_WEB_IDENTITY_TOKEN_FILE: token,
        AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/migrate',
        AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${(sts.address() as AddressInfo).port}`,
      });
      const c = await createAwsCredentialChain()();
      expect(c).toMatchObject({
        accessKeyId: 'ASIAIRSA',
        secretAccessKey: 'irsa-secret',
        sessionToken: 'irsa-token',
      });
      expect(c.expiration?.toISOString()).toBe('2099-01-01T00:00:00.000Z');
      expect(form).toContain('Action=AssumeRoleWithWebIdentity');
      expect(form).toContain('WebIdentityToken=projected-service-account-token');
    } finally {
      sts.close();
    }
  });

  it('says where it looked when it finds nothing', async () => {
    const error = await createAwsCredentialChain()().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoCredentialsError);
    expect((error as NoCredentialsError).outcome).toBe('could-not-check');
    expect((error as Error).message).toMatch(
      /^no S3 credentials: give 'access-key-id' and 'secret-access-key', or make credentials available to the AWS chain \(AWS_ACCESS_KEY_ID/,
    );
  });
});
