import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import {
  readBackupConfig,
  readConvertConfig,
  readMigrateConfig,
  readRollbackConfig,
  readVerifyConfig,
} from '@dify-storage/operations';
import { parse } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const noMask = () => undefined;
const env = { RUNNER_TEMP: '/tmp/runner', NODE_NAME: 'node-a' };

/** Sample values for the inputs each action requires. */
const CASES = {
  'backup-hostpath': { read: readBackupConfig, required: { 'backup-dir': '/var/backups/dify' } },
  'migrate-to-s3': {
    read: readMigrateConfig,
    required: { 'storage-path': '/data/storage', bucket: 'dify-files' },
  },
  'convert-workloads': {
    read: readConvertConfig,
    required: { phase: 'plan', bucket: 'dify-files' },
  },
  'verify-dify': { read: readVerifyConfig, required: { bucket: 'dify-files' } },
  rollback: {
    read: readRollbackConfig,
    required: { 'backup-dir': '/var/backups/dify', bucket: 'dify-files' },
  },
} as const;

describe('the defaults in action.yml and in the code agree', () => {
  for (const [action, { read, required }] of Object.entries(CASES)) {
    it(action, async () => {
      const meta = parse(
        await readFile(path.join(ROOT, 'actions', action, 'action.yml'), 'utf8'),
      ) as {
        inputs: Record<string, { default?: string; required?: boolean }>;
      };
      const ymlDefaults = Object.fromEntries(
        Object.entries(meta.inputs).flatMap(([k, v]) =>
          v.default === undefined ? [] : [[k, String(v.default)]],
        ),
      );
      const asRunner = { ...ymlDefaults, ...required } as Record<string, string>;
      const asCli = required as Record<string, string>;
      const fromRunner = read((n) => asRunner[n] ?? '', env, noMask);
      const fromCli = read((n) => asCli[n] ?? '', env, noMask);
      expect(fromCli).toEqual(fromRunner);
      // Every input the code requires is marked required in action.yml, and the reverse.
      const requiredInYml = Object.entries(meta.inputs)
        .filter(([, v]) => v.required && v.default === undefined)
        .map(([k]) => k)
        .sort();
      expect(requiredInYml).toEqual(Object.keys(required).sort());
      for (const name of requiredInYml) {
        const without = { ...asRunner, [name]: '' };
        expect(() => read((n) => without[n] ?? '', env, noMask)).toThrow(
          `Input '${name}' is required`,
        );
      }
    });
  }
});

describe('backup: the api pod comes from the workload name (issue 19 §10)', () => {
  it('defaults api-pod to <api-name>-0, so a kustomize prefix needs only api-name', () => {
    const values: Record<string, string> = {
      'backup-dir': '/var/backups/dify',
      'api-name': 'prod-dify-api',
    };
    const config = readBackupConfig((n) => values[n] ?? '', env, noMask);
    expect(config.apiPod).toBe('prod-dify-api-0');
    values['api-pod'] = 'custom-0';
    expect(readBackupConfig((n) => values[n] ?? '', env, noMask).apiPod).toBe('custom-0');
  });
});

describe('migrate: bandwidth-limit (issue 17 §1)', () => {
  const read = (limit: string) =>
    readMigrateConfig(
      (n) =>
        ({ 'storage-path': '/data/storage', bucket: 'dify-files', 'bandwidth-limit': limit })[n] ??
        '',
      env,
      noMask,
    );
  it('reads binary rates as rclone --bwlimit does; 0 or empty means no limit', () => {
    expect(read('50M').bandwidthLimit).toBe(50 * 1024 * 1024);
    expect(read('512K').bandwidthLimit).toBe(512 * 1024);
    expect(read('1.5GiB/s').bandwidthLimit).toBe(1.5 * 1024 ** 3);
    expect(read('0').bandwidthLimit).toBe(0);
    expect(read('').bandwidthLimit).toBe(0);
  });
  it('refuses what is not a rate, naming the input', () => {
    for (const bad of ['fast', '-5M', '10T', '100'])
      expect(() => read(bad)).toThrow(
        `Input 'bandwidth-limit' has the value '${bad}'; it must be 0 (no limit) or a rate`,
      );
  });
});

describe('state-dir is never inside the storage tree (a Dify pod could plant records there)', () => {
  const base = { 'storage-path': '/data/storage', bucket: 'dify-files', 'backup-dir': '/b' };
  const inputs = (stateDir: string) => {
    const v: Record<string, string> = { ...base, 'state-dir': stateDir, phase: 'plan' };
    return (n: string) => v[n] ?? '';
  };
  for (const [action, read] of [
    ['migrate-to-s3', readMigrateConfig],
    ['convert-workloads', readConvertConfig],
    ['rollback', readRollbackConfig],
  ] as const) {
    it(action, () => {
      for (const inside of ['/data/storage', '/data/storage/.state', '/data/storage/a/../b'])
        expect(() => read(inputs(inside), env, noMask)).toThrow(
          `Input 'state-dir' is '${inside}', inside the storage path '/data/storage', where a Dify pod can write`,
        );
      for (const outside of ['/data/storage-state', '/data/state', '/var/lib/dify-storage/state'])
        expect(read(inputs(outside), env, noMask).stateDir).toBe(outside);
    });
  }
});
