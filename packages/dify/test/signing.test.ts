import { describe, expect, it } from '@jest/globals';
import { privateKeyKey, signedFilePreviewUrl } from '@dify-storage/dify';

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

  it('names private keys where Dify 1.3.0 writes them', () => {
    expect(privateKeyKey('t1')).toBe('privkeys/t1/private.pem');
  });

  it('keeps a base path such as /api', () => {
    const url = signedFilePreviewUrl('https://dify.example/api', 'id', 'k', {
      timestamp: 1,
      nonce: 'n',
    });
    expect(url.startsWith('https://dify.example/api/files/id/file-preview?')).toBe(true);
  });
});
