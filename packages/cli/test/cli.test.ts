import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeApiServer, type FakeApiServer } from '../../../action-tests/src/kube/index.js';
import { fixtureObjects } from '../../../action-tests/src/install/fixture.js';
import { cli } from './support.js';

describe('dify-storage', () => {
  it('lists the commands, and each command lists its flags', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of [
      'preflight',
      'backup',
      'migrate',
      'plan',
      'cutover',
      'verify',
      'rollback',
      'status',
    ]) {
      expect(help.stdout).toContain(`  ${c} `);
    }
    const migrate = await cli(['migrate', '--help']);
    expect(migrate.stdout).toContain('--storage-path');
    expect(migrate.stdout).toContain('(env DIFY_STORAGE_SECRET_ACCESS_KEY)');
  });

  it('refuses a secret on the command line, naming the variable to use instead', async () => {
    const r = await cli(['migrate', '--secret-access-key', 'hunter2hunter2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('set DIFY_STORAGE_SECRET_ACCESS_KEY instead');
    expect(r.stderr + r.stdout).not.toContain('hunter2hunter2');
  });

  it('validates inputs like the action, before doing anything', async () => {
    const r = await cli(['migrate', '--bucket', 'Bad_Bucket', '--mode', 'fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Input 'storage-path' is required but was not supplied.");
    expect(r.stderr).toContain(
      "Input 'mode' has the value 'fast'; allowed values are: bulk, delta, verify.",
    );
    expect(r.stderr).toContain("Input 'bucket' has the value 'Bad_Bucket'");
    const unknown = await cli(['migrate', '--bukket', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'dify-storage migrate: unknown flag --bukket; did you mean --bucket? See dify-storage migrate --help.\n',
    );
    expect((await cli(['migrat'])).stderr).toContain(
      "Unknown command 'migrat'; did you mean 'migrate'?",
    );
  });

  it('refuses a flag without its value (exit 2), but a switch needs none', async () => {
    const r = await cli(['migrate', '--storage-path', '/data', '--bucket']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'dify-storage migrate: --bucket needs a value: --bucket <value> or --bucket=<value>.\n',
    );
    const mode = await cli(['migrate', '--mode', '--bucket', 'b']);
    expect(mode.stderr).toContain('--mode needs a value');
    // --dry-run alone is true; --path-style false is a value, not a stray argument.
    const ok = await cli(['migrate', '--dry-run', '--path-style', 'false', '--mode=fast']);
    expect(ok.code).toBe(2);
    expect(ok.stderr).toContain("Input 'mode' has the value 'fast'");
    expect(ok.stderr).not.toContain('Unexpected argument');
  });

  it('prints its version', async () => {
    const r = await cli(['--version']);
    expect(r).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  describe('against a cluster', () => {
    let server: FakeApiServer;
    beforeAll(async () => {
      server = await startFakeApiServer({});
      for (const o of fixtureObjects({ node: 'node-a', env: {} })) {
        if (o.kind === 'Namespace') continue;
        const resource = {
          ConfigMap: 'configmaps',
          StatefulSet: 'statefulsets',
          Service: 'services',
        }[String(o.kind)]!;
        server.api.create(resource as never, 'dify', o);
      }
    });
    afterAll(async () => server?.close());

    it('status reads where the install stands', async () => {
      const r = await cli(['status'], { DIFY_STORAGE_KUBECONFIG: server.kubeconfigPath });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('StatefulSet dify-api');
      expect(r.stdout).toContain('hostPath /root/dify/app/api/storage');
      expect(r.stdout).toContain('ConfigMap dify-shared-config: STORAGE_TYPE=opendal');
      expect(r.stdout).toContain('lock free');
      const json = await cli(['status', '--json'], {
        DIFY_STORAGE_KUBECONFIG: server.kubeconfigPath,
      });
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ namespace: 'dify' });
    });

    it('status takes STORAGE_TYPE as Kubernetes resolves it: inline env beats the ConfigMap', async () => {
      // The ConfigMap says opendal, but the api container sets STORAGE_TYPE=s3 inline (later
      // in precedence): hostPath StatefulSets that would read S3 are a mixed install.
      server.api.create('namespaces' as never, undefined, { metadata: { name: 'inline' } });
      type Obj = {
        kind: string;
        metadata: { name: string; namespace: string };
        spec?: {
          template: { spec: { containers: { env?: { name: string; value: string }[] }[] } };
        };
      };
      for (const o of fixtureObjects({ node: 'node-a', env: {} }) as Obj[]) {
        if (o.kind !== 'ConfigMap' && o.kind !== 'StatefulSet') continue;
        const copy = structuredClone(o);
        copy.metadata.namespace = 'inline';
        const c = copy.spec?.template.spec.containers[0];
        if (copy.metadata.name === 'dify-api' && c)
          c.env = [...(c.env ?? []), { name: 'STORAGE_TYPE', value: 's3' }];
        const resource = o.kind === 'ConfigMap' ? 'configmaps' : 'statefulsets';
        server.api.create(resource as never, 'inline', copy);
      }
      const r = await cli(['status', '--namespace', 'inline'], {
        DIFY_STORAGE_KUBECONFIG: server.kubeconfigPath,
      });
      expect(r.code).toBe(3);
      expect(r.stdout).toContain('ConfigMap dify-shared-config: STORAGE_TYPE=opendal');
      expect(r.stdout).toMatch(
        /MIXED: the workloads are hostPath StatefulSets but StatefulSet dify-api\/\S+ gets STORAGE_TYPE=s3 from an inline env value/,
      );
    });

    it('plan shows the change and changes nothing', async () => {
      const before = JSON.stringify(server.api.list('statefulsets' as never, 'dify'));
      const plan = (env: NodeJS.ProcessEnv) =>
        cli(
          [
            'plan',
            '--bucket',
            'dify-files',
            '--endpoint',
            'http://127.0.0.1:9',
            '--state-dir',
            `/tmp/cli-plan-${process.pid}`,
          ],
          { DIFY_STORAGE_KUBECONFIG: server.kubeconfigPath, ...env },
        );
      // No S3 credentials anywhere (the AWS chain finds none): bucket not checked, and no keys
      // for Dify's Secret, which blocks.
      const blocked = await plan({});
      expect(blocked.code).toBe(3);
      expect(blocked.stderr).toMatch(/bucket-not-checked: .*no S3 credentials/);
      expect(blocked.stderr).toContain(
        "dify-keys-missing: Dify needs static S3 keys for its Secret and the suite's own credentials come from the AWS credential chain: set 'dify-access-key-id' and 'dify-secret-access-key'",
      );
      const r = await plan({
        DIFY_STORAGE_DIFY_ACCESS_KEY_ID: 'AKIADIFY',
        DIFY_STORAGE_DIFY_SECRET_ACCESS_KEY: 'dify-secret',
      });
      expect(r.code).toBe(0);
      // No pods run in this bare cluster: the plan says so and goes on.
      expect(r.stderr).toContain('api-pod-missing');
      expect(r.stdout).toContain('STORAGE_TYPE');
      expect(r.stdout).toContain('S3_BUCKET_NAME');
      expect(JSON.stringify(server.api.list('statefulsets' as never, 'dify'))).toBe(before);
    });
  });
});
