import { describe, expect, it } from '@jest/globals';
import {
  Redactor,
  diffJson,
  redactChanges,
  renderYaml,
  sanitizeObject,
  type KubeObject,
} from '../src/index.js';

// What real Dify deployments carry (docker/.env.example and the Helm charts): the default
// `difyai123456` passwords in CELERY_BROKER_URL and DB_PASSWORD, plus one canary per shape.
const CANARIES = {
  redisUrl: 'difyai123456',
  dbPassword: 'pg-canary-7731',
  sqlalchemy: 'sqla-canary-1142',
  secretKey: 'sk-canary-5521',
  jsonBlob: 'json-canary-9034',
  dockerAuth: 'docker-canary-6618',
  argPassword: 'arg-canary-3307',
  argSeparate: 'argsep-canary-4471',
  secretData: 'secretdata-canary-2290',
  annotation: 'annot-canary-8815',
};

const b64 = (s: string) => Buffer.from(s).toString('base64');

function fixture(): KubeObject[] {
  const c = CANARIES;
  const dockerconfig = JSON.stringify({
    auths: { 'registry.example': { auth: b64(`robot:${c.dockerAuth}`) } },
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dify-shared-config', annotations: { note: `pw=${c.annotation}` } },
      data: {
        CELERY_BROKER_URL: `redis://:${c.redisUrl}@dify-redis:6379/1`,
        SQLALCHEMY_DATABASE_URI: `postgresql://postgres:${c.sqlalchemy}@db:5432/dify`,
        PLUGIN_CONFIG: JSON.stringify({ token: c.jsonBlob }),
        STORAGE_TYPE: 'opendal',
        OPENDAL_FS_ROOT: 'storage',
        CONSOLE_API_URL: `https://admin:${c.redisUrl}@console.example`,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dify-secrets' },
      type: 'Opaque',
      data: { SECRET_KEY: b64(c.secretKey), '.dockerconfigjson': b64(dockerconfig) },
      stringData: { OTHER: c.secretData },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'dify-api' },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'api',
                image: 'langgenius/dify-api:1.3.0',
                command: ['/bin/sh', '-c'],
                args: [`--password=${c.argPassword}`, '--token', c.argSeparate],
                env: [
                  { name: 'DB_PASSWORD', value: c.dbPassword },
                  { name: 'MODE', value: 'api' },
                  { name: 'S3_ENDPOINT', value: `https://ak:${c.secretKey}@s3.example` },
                ],
              },
            ],
          },
        },
      },
    },
  ];
}

/** Every form a canary could take in an artifact: plain, base64, percent-encoded, JSON-escaped. */
function hits(text: string): string[] {
  const found: string[] = [];
  for (const [name, v] of Object.entries(CANARIES)) {
    const forms = [v, b64(v), encodeURIComponent(`:${v}@`), JSON.stringify(v).slice(1, -1)];
    if (forms.some((f) => text.includes(f))) found.push(name);
  }
  return found;
}

describe('allowlist redaction of what leaves the node', () => {
  it('the redacted snapshot carries no canary in any form, keeps structure and allowlisted values', () => {
    const redactor = new Redactor(Buffer.alloc(32, 1));
    const yaml = renderYaml(
      fixture().map((o) => sanitizeObject(o)),
      { redact: redactor },
    );
    expect(hits(yaml)).toEqual([]);
    expect(yaml).toContain('STORAGE_TYPE: opendal');
    expect(yaml).toContain('OPENDAL_FS_ROOT: storage');
    expect(yaml).toContain('CONSOLE_API_URL: https://console.example'); // userinfo stripped
    expect(yaml).toContain('value: https://s3.example');
    expect(yaml).toContain('image: langgenius/dify-api:1.3.0');
    expect(yaml).toContain('name: DB_PASSWORD');
    expect(yaml).toMatch(/CELERY_BROKER_URL: <redacted hmac:[0-9a-f]{12}>/);
  });

  it('the plan diff carries no canary either', () => {
    const [, , sts] = fixture();
    const after = structuredClone(sts!) as KubeObject;
    (after as { kind: string }).kind = 'Deployment';
    const containers = (after.spec as { template: { spec: { containers: { env: unknown[] }[] } } })
      .template.spec.containers;
    containers[0]!.env = [];
    const text = JSON.stringify(redactChanges(diffJson(sts!, after)));
    expect(hits(text)).toEqual([]);
  });

  it('marks are keyed: the same value under another backup key gives another mark', () => {
    const a = new Redactor(Buffer.alloc(32, 1)).mark(CANARIES.dbPassword);
    const b = new Redactor(Buffer.alloc(32, 2)).mark(CANARIES.dbPassword);
    expect(a).toMatch(/^<redacted hmac:[0-9a-f]{12}>$/);
    expect(a).not.toBe(b);
  });
});
