import { describe, expect, it } from '@jest/globals';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../src/kube/patch.js';
import {
  matchesRequirements,
  parseLabelSelector,
  selectorToString,
} from '../../src/kube/selectors.js';
import { KubeStatusError } from '../../src/kube/status-errors.js';
import type { Loose } from '../../src/kube/json.js';

const pod = {
  metadata: { finalizers: ['a', 'b'] },
  spec: {
    containers: [
      {
        name: 'api',
        image: 'x:1',
        ports: [{ containerPort: 5001 }],
        volumeMounts: [{ name: 's', mountPath: '/app/api/storage' }],
      },
      { name: 'side', image: 'y:1' },
    ],
    volumes: [{ name: 's', hostPath: { path: '/data' } }],
  },
};

describe('patches', () => {
  it('merge patch (RFC 7386): objects merge, null deletes, lists replace', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });

  it('JSON patch rejects non-arrays with the Go decoder message and failed tests with 422', () => {
    expect(() => jsonPatch({}, { a: 1 })).toThrow(
      'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    );
    try {
      jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]);
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(KubeStatusError);
      expect((err as KubeStatusError).status).toMatchObject({ code: 422, reason: 'Invalid' });
    }
  });

  it('strategic merge: lists merged by key, $patch delete/replace, $setElementOrder, $retainKeys, $deleteFromPrimitiveList', () => {
    const out = strategicMergePatch(pod, {
      metadata: { finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: {
        '$setElementOrder/containers': [{ name: 'side' }, { name: 'api' }],
        containers: [
          {
            name: 'api',
            image: 'x:2',
            volumeMounts: [{ mountPath: '/app/api/storage', $patch: 'delete' }],
            ports: [{ containerPort: 5001, name: 'http' }],
          },
          { name: 'new', image: 'z:1' },
        ],
        volumes: [{ name: 's', emptyDir: {}, $retainKeys: ['name', 'emptyDir'] }],
      },
    }) as Loose;
    expect(out.metadata.finalizers).toEqual(['b', 'c']);
    expect(out.spec.containers.map((c: Loose) => c.name)).toEqual(['side', 'api', 'new']);
    expect(out.spec.containers[1]).toEqual({
      name: 'api',
      image: 'x:2',
      ports: [{ containerPort: 5001, name: 'http' }],
      volumeMounts: [],
    });
    expect(out.spec.volumes).toEqual([{ name: 's', emptyDir: {} }]);
    const replaced = strategicMergePatch(pod, {
      spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'o' }] },
    }) as Loose;
    expect(replaced.spec.containers).toEqual([{ name: 'only', image: 'o' }]);
    const deleted = strategicMergePatch(pod, {
      spec: { containers: [{ name: 'side', $patch: 'delete' }] },
    }) as Loose;
    expect(deleted.spec.containers.map((c: Loose) => c.name)).toEqual(['api']);
  });
});

describe('label selectors', () => {
  it('parses equality and set-based requirements', () => {
    const reqs = parseLabelSelector(
      'app=dify, tier in (api,worker),!canary,env notin (dev),team,x!=y',
    );
    expect(matchesRequirements({ app: 'dify', tier: 'api', team: 't' }, reqs)).toBe(true);
    expect(matchesRequirements({ app: 'dify', tier: 'web', team: 't' }, reqs)).toBe(false);
    expect(matchesRequirements({ app: 'dify', tier: 'api', team: 't', canary: '1' }, reqs)).toBe(
      false,
    );
    expect(() => parseLabelSelector('a in b')).toThrow(KubeStatusError);
    expect(
      selectorToString({
        matchLabels: { app: 'dify-api' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['b', 'a'] }],
      }),
    ).toBe('app=dify-api,tier in (a,b)');
  });
});
