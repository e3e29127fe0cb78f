import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, waitFor } from './process.js';

/**
 * A second radosgw daemon on the proving ground's Ceph cluster, on its own port: the same
 * users and buckets, but a process a test may kill and restart without disturbing the suites
 * that share the main gateway.
 */
export interface ExtraGateway {
  endpoint: string;
  kill(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startExtraGateway(cephDir: string, port: number): Promise<ExtraGateway> {
  const conf = path.join(cephDir, 'ceph.conf');
  const name = `client.rgw.t${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, CEPH_CONF: conf };
  const key = await run(
    'ceph',
    [
      '--conf',
      conf,
      'auth',
      'get-or-create',
      name,
      'mon',
      'allow rw',
      'osd',
      'allow rwx',
      'mgr',
      'allow rw',
    ],
    { env },
  );
  const keyring = path.join(cephDir, `${name}.keyring`);
  await writeFile(keyring, key);
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const args = [
    '--conf',
    conf,
    '-n',
    name,
    '-f',
    '--keyring',
    keyring,
    '--rgw_frontends',
    `beast endpoint=127.0.0.1:${port} tcp_nodelay=1`,
    '--rgw_data',
    path.join(cephDir, 'rgw'),
    '--pid_file',
    path.join(cephDir, 'run', `${name}.pid`),
    '--log_file',
    path.join(cephDir, 'log', `${name}.log`),
  ];
  const gateway: ExtraGateway = {
    endpoint,
    kill: () => child?.kill('SIGKILL'),
    start: async () => {
      child = spawn('radosgw', args, { env, stdio: 'ignore' });
      await waitFor(`radosgw ${name}`, async () => (await fetch(`${endpoint}/`)).ok, {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
    },
    stop: async () => {
      child?.kill('SIGKILL');
      await run('ceph', ['--conf', conf, 'auth', 'del', name], { env }).catch(() => undefined);
    },
  };
  await gateway.start();
  return gateway;
}
