import { describe, expect, it } from '@jest/globals';
import { EMPTY_SHA256, SigV4Signer, canonicalQuery, uriEncode } from '../src/sigv4.js';

describe('SigV4Signer', () => {
  it('reproduces the GET Object example of the S3 SigV4 documentation', () => {
    const signer = new SigV4Signer('us-east-1', 's3', () => Date.UTC(2013, 4, 24));
    const credentials = {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    };
    const headers: Record<string, string> = {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
    };
    signer.sign(credentials, 'GET', '/test.txt', '', headers, EMPTY_SHA256);
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('encodes keys and queries the way S3 canonicalizes them', () => {
    expect(uriEncode('a b/中+(x)*~.png', true)).toBe('a%20b/%E4%B8%AD%2B%28x%29%2A~.png');
    expect(canonicalQuery({ uploads: '', 'list-type': '2', prefix: 'a b/' })).toBe(
      'list-type=2&prefix=a%20b%2F&uploads=',
    );
  });
});
