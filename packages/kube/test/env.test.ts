import { describe, expect, it } from '@jest/globals';
import { describeEnvSource, effectiveEnv, type EnvObjectLookup } from '../src/index.js';

const objects: Record<string, Record<string, string>> = {
  'ConfigMap/base': { STORAGE_TYPE: 'opendal', A: 'cm', ROOT: 'storage' },
  'ConfigMap/later': { A: 'later' },
  'Secret/env': { STORAGE_TYPE: 'opendal-from-secret', S3_ENDPOINT: 'http://old' },
};
const lookup: EnvObjectLookup = (kind, name) => objects[`${kind}/${name}`];

describe('effectiveEnv (kubelet precedence)', () => {
  it('lets a later envFrom override an earlier one and env override envFrom', () => {
    const env = effectiveEnv(
      {
        name: 'api',
        envFrom: [
          { configMapRef: { name: 'base' } },
          { secretRef: { name: 'env' } },
          { configMapRef: { name: 'later' } },
          { configMapRef: { name: 'base' }, prefix: 'P_' },
        ],
        env: [
          { name: 'S3_ENDPOINT', value: 'http://inline' },
          { name: 'PATHY', value: '$(ROOT)/x $$(ROOT)' },
        ],
      },
      lookup,
    );
    expect(env.get('STORAGE_TYPE')).toMatchObject({
      value: 'opendal-from-secret',
      source: { kind: 'Secret', name: 'env', key: 'STORAGE_TYPE', via: 'envFrom' },
    });
    expect(env.get('A')?.value).toBe('later');
    expect(env.get('P_ROOT')?.value).toBe('storage');
    expect(env.get('S3_ENDPOINT')).toMatchObject({
      value: 'http://inline',
      source: { kind: 'value' },
    });
    expect(env.get('PATHY')?.value).toBe('storage/x $(ROOT)');
    expect(describeEnvSource(env.get('STORAGE_TYPE')!.source)).toBe('Secret "env" (envFrom)');
  });

  it('resolves valueFrom key refs; an optional missing ref leaves the earlier value', () => {
    const env = effectiveEnv(
      {
        name: 'api',
        envFrom: [{ configMapRef: { name: 'base' } }],
        env: [
          {
            name: 'STORAGE_TYPE',
            valueFrom: { secretKeyRef: { name: 'env', key: 'STORAGE_TYPE' } },
          },
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'nope', key: 'A', optional: true } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        ],
      },
      lookup,
    );
    expect(env.get('STORAGE_TYPE')).toMatchObject({
      value: 'opendal-from-secret',
      source: { kind: 'Secret', name: 'env', key: 'STORAGE_TYPE', via: 'env' },
    });
    expect(describeEnvSource(env.get('STORAGE_TYPE')!.source)).toBe(
      'Secret "env" key STORAGE_TYPE (env valueFrom)',
    );
    expect(env.get('A')?.value).toBe('cm');
    expect(env.get('NODE')).toMatchObject({ value: undefined, source: { kind: 'field' } });
  });
});
