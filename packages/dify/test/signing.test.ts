import { describe, expect, it } from '@jest/globals';
import { privateKeyKey, s3StorageEnv, signedFilePreviewUrl } from '@dify-storage/dify';

describe('signedFilePreviewUrl', () => {
  it("matches Dify's formula (vector computed with Python's hmac, as Dify does)", () => {
    const url = new URL(
      signedFilePreviewUrl(
        'http://dify.example:5001/',
        '0b6a8c3e-1111-4222-8333-944444444444',
        'sk-test-secret',
        {
          timestamp: 1700000000,
          nonce: 'abc123',
        },
      ),
    );
    expect(url.pathname).toBe('/files/0b6a8c3e-1111-4222-8333-944444444444/file-preview');
    expect(url.searchParams.get('timestamp')).toBe('1700000000');
    expect(url.searchParams.get('nonce')).toBe('abc123');
    // The padding '=' is part of the signature and must survive URL encoding.
    expect(url.searchParams.get('sign')).toBe('bK60Ro5yugIZZFWgIrdLICJFRhScuMirCEcE2ULibRI=');
    expect(url.search).toContain('sign=bK60Ro5yugIZZFWgIrdLICJFRhScuMirCEcE2ULibRI%3D');
  });

  it('keeps a base path such as /api', () => {
    const url = signedFilePreviewUrl('https://dify.example/api', 'id', 'k', {
      timestamp: 1,
      nonce: 'n',
    });
    expect(url.startsWith('https://dify.example/api/files/id/file-preview?')).toBe(true);
  });
});

describe('storage settings', () => {
  it('switches Dify to the bucket with path style and without managed IAM', () => {
    expect(
      s3StorageEnv({ endpoint: 'http://minio:9000', bucket: 'dify', region: 'us-east-1' }),
    ).toEqual({
      STORAGE_TYPE: 's3',
      S3_ENDPOINT: 'http://minio:9000',
      S3_BUCKET_NAME: 'dify',
      S3_REGION: 'us-east-1',
      S3_ADDRESS_STYLE: 'path',
      S3_USE_AWS_MANAGED_IAM: 'false',
    });
    expect(privateKeyKey('t1')).toBe('privkeys/t1/private.pem');
  });
});
