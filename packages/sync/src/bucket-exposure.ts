import { xmlBlocks, xmlText } from './xml.js';
import type { S3Transport } from './transport.js';

const PUBLIC_GROUPS = [
  'http://acs.amazonaws.com/groups/global/AllUsers',
  'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
];

/**
 * Why the bucket is readable by anyone (it will hold `privkeys/<tenant>/private.pem`), or an
 * empty list. Reads the ACL (a grant to AllUsers/AuthenticatedUsers) and the policy (an Allow to
 * Principal "*" of a read action, for the bucket or any prefix) where the server supports them.
 */
export async function publicExposure(transport: S3Transport): Promise<string[]> {
  const found: string[] = [];
  const acl = await transport.getBucketAcl();
  for (const grant of acl ? xmlBlocks(acl, 'Grant') : []) {
    const uri = xmlText(grant, 'URI');
    if (uri && PUBLIC_GROUPS.includes(uri)) {
      found.push(
        `the bucket ACL grants ${xmlText(grant, 'Permission')} to ${uri.split('/').pop()}`,
      );
    }
  }
  const policy = await transport.getBucketPolicy();
  if (policy) found.push(...publicPolicyStatements(policy));
  return found;
}

function publicPolicyStatements(text: string): string[] {
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(text) as { Statement?: unknown };
  } catch {
    return ['the bucket policy could not be parsed; check it by hand'];
  }
  const statements = [doc.Statement ?? []].flat() as Record<string, unknown>[];
  return statements
    .filter((s) => s.Effect === 'Allow' && isEveryone(s.Principal) && readsObjects(s.Action))
    .map(
      (s) =>
        `the bucket policy allows ${JSON.stringify(s.Action)} to everyone on ${JSON.stringify(s.Resource)}`,
    );
}

function isEveryone(principal: unknown): boolean {
  if (principal === '*') return true;
  const aws = (principal as { AWS?: unknown } | undefined)?.AWS;
  return [aws].flat().includes('*');
}

function readsObjects(action: unknown): boolean {
  return [action].flat().some((a) => typeof a === 'string' && /^(s3:)?(\*|GetObject.*)$/i.test(a));
}
