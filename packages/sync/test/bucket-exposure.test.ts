import { describe, expect, it } from '@jest/globals';
import { S3Transport, publicExposure } from '../src/index.js';
import { newBucket } from './helpers.js';

// The bucket holds privkeys/<tenant>/private.pem: the plan blocks when anyone can read it.
describe('publicExposure (the plan reads the ACL and the policy of the bucket)', () => {
  it('a private bucket: nothing found', async () => {
    const t = new S3Transport(await newBucket('exposure-private'));
    try {
      expect(await publicExposure(t)).toEqual([]);
    } finally {
      t.close();
    }
  });

  it('a public-read ACL and a policy allowing GetObject to everyone are both found', async () => {
    const target = await newBucket('exposure-public');
    const t = new S3Transport(target);
    try {
      await t.send({
        op: 'CreateBucket',
        method: 'PUT',
        query: { acl: '' },
        headers: { 'x-amz-acl': 'public-read' },
      });
      const policy = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: ['*'] },
            Action: ['s3:GetObject'],
            Resource: [`arn:aws:s3:::${target.bucket}/privkeys/*`],
          },
        ],
      });
      await t.send({
        op: 'CreateBucket',
        method: 'PUT',
        query: { policy: '' },
        body: Buffer.from(policy),
        signBody: true,
      });
      const found = await publicExposure(t);
      expect(found).toContainEqual(expect.stringMatching(/ACL grants READ to AllUsers/));
      expect(found).toContainEqual(
        expect.stringMatching(/policy allows .*GetObject.* to everyone/),
      );
    } finally {
      t.close();
    }
  });
});
