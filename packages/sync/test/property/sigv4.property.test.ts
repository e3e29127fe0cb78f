import { describe, expect, it } from '@jest/globals';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { SigV4Signer, canonicalQuery, uriEncode } from '../../src/sigv4.js';

// Our lean signer stays (docs/adr/0005: 9× less CPU per request); it must sign exactly as the
// AWS SDK's signer does for every request the engine makes.
const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const printable = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);

describe('SigV4Signer = @smithy/signature-v4', () => {
  it('gives the same Authorization for any key, query, headers and date', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'HEAD', 'POST', 'DELETE'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.string({ maxLength: 12 }), {
          maxKeys: 3,
        }),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), printable, { maxKeys: 3 }),
        fc.constantFrom(
          'UNSIGNED-PAYLOAD',
          'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        ),
        fc.integer({ min: 1_500_000_000, max: 2_000_000_000 }),
        fc.option(fc.stringMatching(/^[A-Za-z0-9+/=]{16,64}$/), { nil: undefined }),
        async (method, key, query, meta, payloadHash, seconds, sessionToken) => {
          const creds = sessionToken ? { ...credentials, sessionToken } : credentials;
          const path = `/bucket/${uriEncode(key, true)}`;
          const headers: Record<string, string> = { host: '127.0.0.1:7480' };
          for (const [k, v] of Object.entries(meta)) headers[`x-amz-meta-${k}`] = v;
          const ours = { ...headers };
          new SigV4Signer('us-east-1', 's3', () => seconds * 1000).sign(
            creds,
            method,
            path,
            canonicalQuery(query),
            ours,
            payloadHash,
          );
          const smithy = new SignatureV4({
            credentials: creds,
            region: 'us-east-1',
            service: 's3',
            sha256: Hash.bind(null, 'sha256'),
            uriEscapePath: false,
          });
          const signed = await smithy.sign(
            {
              method,
              protocol: 'http:',
              hostname: '127.0.0.1',
              port: 7480,
              path,
              query,
              headers: { ...headers, 'x-amz-content-sha256': payloadHash },
            },
            { signingDate: new Date(seconds * 1000) },
          );
          expect(ours.authorization).toBe(signed.headers.authorization);
        },
      ),
      { numRuns: 300 },
    );
  });
});
