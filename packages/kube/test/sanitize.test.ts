import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import {
  Redactor,
  isSubset,
  jsonEqual,
  renderYaml,
  sanitizeObject,
  secretDigest,
  type KubeObject,
} from '../src/index.js';
import { dbSecret, difySts } from './fixtures/install.js';

describe('sanitizeObject', () => {
  it('strips server-set metadata, status and the last-applied annotation, keeps the rest', () => {
    const sts = difySts('dify-api');
    sts.metadata = {
      ...sts.metadata,
      selfLink: '/apis/apps/v1/x',
      deletionTimestamp: '2025-01-01T00:00:00Z',
      deletionGracePeriodSeconds: 30,
      generateName: 'dify-',
      ownerReferences: [{ kind: 'X', name: 'y' }],
    };
    const clean = sanitizeObject(sts);
    expect(clean.metadata).toEqual({
      name: 'dify-api',
      namespace: 'dify',
      labels: { app: 'dify-api', 'app.kubernetes.io/part-of': 'dify' },
      annotations: { team: 'ai' },
    });
    expect(clean.status).toBeUndefined();
    expect(clean.spec).toEqual(sts.spec);
    expect(sts.metadata.uid).toBeDefined(); // input untouched
  });

  it('drops annotations that only held last-applied', () => {
    const clean = sanitizeObject({
      kind: 'ConfigMap',
      metadata: {
        name: 'c',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
      },
    });
    expect(clean.metadata).toEqual({ name: 'c' });
  });

  it('removes allocated cluster IPs and node ports of Services but keeps headless ones', () => {
    const svc = sanitizeObject({
      kind: 'Service',
      metadata: { name: 's' },
      spec: {
        type: 'NodePort',
        clusterIP: '10.0.0.1',
        clusterIPs: ['10.0.0.1'],
        healthCheckNodePort: 32000,
        ports: [{ port: 80, nodePort: 30080 }],
      },
    });
    expect(svc.spec).toEqual({ type: 'NodePort', ports: [{ port: 80 }] });
    const headless = sanitizeObject({
      kind: 'Service',
      metadata: { name: 'h' },
      spec: { clusterIP: 'None', clusterIPs: ['None'] },
    });
    expect(headless.spec).toEqual({ clusterIP: 'None', clusterIPs: ['None'] });
  });

  it('puts back the kind when given (list items come without it)', () => {
    expect(sanitizeObject<KubeObject>({ metadata: { name: 'x' } }, 'ConfigMap').kind).toBe(
      'ConfigMap',
    );
  });
});

describe('secretDigest', () => {
  it('keeps names and per-backup HMAC digests (salted), never values', () => {
    const key = Buffer.alloc(32, 7);
    const hmac = (v: string) => createHmac('sha256', key).update(v).digest('hex');
    const digest = secretDigest(dbSecret(), new Redactor(key));
    expect(digest).toEqual({
      name: 'dify-db',
      namespace: 'dify',
      type: 'Opaque',
      keys: {
        DB_USERNAME: hmac('postgres'),
        DB_PASSWORD: hmac('pg-secret'),
      },
    });
    expect(JSON.stringify(digest)).not.toContain(Buffer.from('pg-secret').toString('base64'));
    expect(JSON.stringify(digest)).not.toContain('pg-secret');
    // Another backup (key), another digest: no table of unsalted hashes works across backups.
    expect(secretDigest(dbSecret(), new Redactor()).keys.DB_PASSWORD).not.toBe(hmac('pg-secret'));
    expect(JSON.stringify(digest)).not.toContain(
      createHash('sha256').update('pg-secret').digest('hex'),
    );
  });
});

describe('isSubset / jsonEqual', () => {
  it('treats server defaults as no difference but any change or missing item as one', () => {
    expect(isSubset({ a: 1, b: [{ c: 2 }] }, { a: 1, b: [{ c: 2, d: 3 }], e: 4 })).toBe(true);
    expect(isSubset({ a: 1, b: [{ c: 2 }] }, { a: 1, b: [{ c: 2 }, { c: 3 }] })).toBe(false);
    expect(isSubset({ a: '1' }, { a: 1 })).toBe(false);
    expect(jsonEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });
});

describe('renderYaml', () => {
  it('redacts secret-looking values on request and only then', () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { DB_PASSWORD: 'hunter2', MODE: 'api' },
    };
    const sts = sanitizeObject(difySts('dify-api'));
    const redacted = renderYaml([cm, sts], { redact: true });
    expect(redacted).not.toContain('hunter2');
    expect(redacted).not.toContain('sk-super-secret-value');
    expect(redacted).toContain('MODE: api');
    expect(redacted).toContain('name: SECRET_KEY');
    expect(renderYaml([cm])).toContain('hunter2');
    expect(cm.data.DB_PASSWORD).toBe('hunter2');
  });

  it('renders a multi-document stream that parses back to the same objects', () => {
    const objects = [
      sanitizeObject(difySts('dify-api')),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { A: 'x: y' } },
    ];
    const docs = parseAllDocuments(renderYaml(objects)).map((d) => d.toJS());
    expect(docs).toEqual(objects);
  });
});
