import { describe, expect, it } from '@jest/globals';
import { isConfigMapConverted, s3ConfigMapPatch, s3StorageEnv } from '../src/index.js';
import { sharedConfig } from './fixtures/install.js';

const settings = { endpoint: 'http://127.0.0.1:17480', bucket: 'dify-data', region: 'us-east-1' };

describe('s3ConfigMapPatch', () => {
  it('sets the S3 settings, removes OpenDAL and STORAGE_LOCAL_PATH, keeps everything else', () => {
    const result = s3ConfigMapPatch(sharedConfig(), settings);
    expect(result.data).toEqual({
      CONSOLE_API_URL: 'http://dify.example',
      DB_PASSWORD: 'hunter2',
      STORAGE_TYPE: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:17480',
      S3_BUCKET_NAME: 'dify-data',
      S3_REGION: 'us-east-1',
      S3_ADDRESS_STYLE: 'path',
      S3_USE_AWS_MANAGED_IAM: 'false',
    });
    expect(result.changes).toEqual([
      { key: 'OPENDAL_FS_ROOT', change: 'removed', before: 'storage' },
      { key: 'OPENDAL_SCHEME', change: 'removed', before: 'fs' },
      { key: 'S3_ADDRESS_STYLE', change: 'added', after: 'path' },
      { key: 'S3_BUCKET_NAME', change: 'added', after: 'dify-data' },
      { key: 'S3_ENDPOINT', change: 'added', after: 'http://127.0.0.1:17480' },
      { key: 'S3_REGION', change: 'added', after: 'us-east-1' },
      { key: 'S3_USE_AWS_MANAGED_IAM', change: 'added', after: 'false' },
      { key: 'STORAGE_LOCAL_PATH', change: 'removed', before: '/app/api/storage' },
      { key: 'STORAGE_TYPE', change: 'changed', before: 'opendal', after: 's3' },
    ]);
    expect(result.removedCredentialKeys).toEqual([]);
  });

  it('removes credentials already in the ConfigMap and reports them', () => {
    const cm = sharedConfig();
    cm.data = { ...cm.data, S3_ACCESS_KEY: 'AKIA', S3_SECRET_KEY: 'shh' };
    const result = s3ConfigMapPatch(cm, settings);
    expect(result.removedCredentialKeys).toEqual(['S3_ACCESS_KEY', 'S3_SECRET_KEY']);
    expect(result.data).not.toHaveProperty('S3_ACCESS_KEY');
    expect(result.data).not.toHaveProperty('S3_SECRET_KEY');
  });

  it('is a no-op on a converted ConfigMap', () => {
    const cm = sharedConfig();
    cm.data = s3ConfigMapPatch(cm, settings).data;
    expect(s3ConfigMapPatch(cm, settings).changes).toEqual([]);
    expect(isConfigMapConverted(cm, settings)).toBe(true);
    expect(isConfigMapConverted(sharedConfig(), settings)).toBe(false);
  });

  it('honours another address style and handles a ConfigMap without data', () => {
    const result = s3ConfigMapPatch(
      { metadata: { name: 'x' } },
      { ...settings, addressStyle: 'virtual' },
    );
    expect(result.data.S3_ADDRESS_STYLE).toBe('virtual');
    expect(result.changes.every((c) => c.change === 'added')).toBe(true);
  });

  it('refuses invalid settings with every problem named', () => {
    expect(() =>
      s3StorageEnv({
        endpoint: 'rgw:80',
        bucket: 'A_b',
        region: ' ',
        addressStyle: 'odd' as never,
      }),
    ).toThrow(
      'invalid S3 settings: endpoint "rgw:80" is not an http(s) URL; bucket "A_b" is not a valid S3 bucket name; region is empty; addressStyle "odd" is not one of path, virtual, auto',
    );
  });
});
