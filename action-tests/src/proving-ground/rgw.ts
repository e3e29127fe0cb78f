import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '@dify-storage/s3';
import { pidFiles, run, stopProcess, waitFor } from './process.js';
import type { TestCertificates } from './tls.js';

export interface RgwOptions {
  /** A directory that does not exist yet: the whole cluster's state lives in it. */
  stateDir: string;
  s3Port: number;
  /** Port of the TLS endpoint (beast `ssl_endpoint`), served with `tls`'s certificate. */
  tlsPort: number;
  tls: TestCertificates;
  monV2Port: number;
  monV1Port: number;
  accessKey: string;
  secretKey: string;
}

export interface Rgw {
  endpoint: string;
  /** `https://127.0.0.1:<tlsPort>`: the same gateway, trusted only with `caFile`. */
  tlsEndpoint: string;
  caFile: string;
  accessKey: string;
  secretKey: string;
  region: string;
  stop(): Promise<void>;
}

const BINARIES = [
  'ceph-mon',
  'ceph-osd',
  'radosgw',
  'radosgw-admin',
  'ceph',
  'ceph-authtool',
  'monmaptool',
];
/** Stop order matters: radosgw hangs if its OSD goes first (s3-test-server.md §3). */
const STOP_ORDER: [string, string][] = [
  ['client.rgw.a', 'radosgw'],
  ['osd.0', 'ceph-osd'],
  ['mon.a', 'ceph-mon'],
];

function cephConf(o: RgwOptions, fsid: string): string {
  const d = o.stateDir;
  const mon = `[v2:127.0.0.1:${o.monV2Port},v1:127.0.0.1:${o.monV1Port}]`;
  return `[global]
fsid = ${fsid}
mon_host = ${mon}
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = ${d}/$name.keyring
run_dir = ${d}/run
admin_socket = ${d}/run/$name.asok
pid_file = ${d}/run/$name.pid
log_file = ${d}/log/$name.log
crash_dir = ${d}/crash
log_to_stderr = false
err_to_stderr = true
debug_ms = 0
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
mon_data_avail_warn = 2
mon_data_avail_crit = 1
paxos_propose_interval = 0.05

[mon]
mon_data = ${d}/mon/ceph-$id
keyring = ${d}/mon/ceph-$id/keyring
mon_cluster_log_file = ${d}/log/cluster.log

[osd]
osd_data = ${d}/osd/ceph-$id
keyring = ${d}/osd/ceph-$id/keyring
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_block_db_create = false
bluestore_block_wal_create = false
bluestore_fsck_on_mkfs = false
osd_op_num_shards = 2
osd_memory_target = 1073741824
osd_class_load_list = *
osd_class_default_list = *

[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:${o.s3Port} ssl_endpoint=127.0.0.1:${o.tlsPort} ssl_certificate=${o.tls.certFile} ssl_private_key=${o.tls.keyFile} tcp_nodelay=1
rgw_data = ${d}/rgw
rgw_enable_usage_log = false
rgw_thread_pool_size = 64
# Reclaim deleted objects within a minute, not two hours: test runs delete a lot.
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
`;
}

/** Stops every daemon recorded in the state dir, in the order Ceph needs. */
export async function stopRgw(stateDir: string): Promise<void> {
  const pids = await pidFiles(path.join(stateDir, 'run'));
  for (const [name, comm] of STOP_ORDER) {
    const entry = pids.find((p) => p.name === name);
    if (entry) await stopProcess(entry.pid, comm);
  }
}

/**
 * Starts a single-node Ceph RADOS Gateway on 127.0.0.1 (mon + bluestore OSD on a sparse
 * file + radosgw), following the measured recipe in s3-test-server.md. Ready in ~6 s.
 */
export async function startRgw(o: RgwOptions): Promise<Rgw> {
  for (const bin of BINARIES) {
    await run('sh', ['-c', `command -v ${bin}`]).catch(() => {
      throw new Error(
        `${bin} is not installed: apt-get install radosgw ceph-mon ceph-osd ceph-common`,
      );
    });
  }
  const d = o.stateDir;
  for (const sub of ['mon/ceph-a', 'osd/ceph-0', 'run', 'log', 'rgw', 'crash', 'tmp']) {
    await mkdir(path.join(d, sub), { recursive: true });
  }
  const fsid = randomUUID();
  const conf = path.join(d, 'ceph.conf');
  await writeFile(conf, cephConf(o, fsid));
  const env = { ...process.env, CEPH_CONF: conf };
  const ceph = (args: string[], timeoutMs = 30_000) =>
    run('ceph', ['--conf', conf, ...args], { env, timeoutMs });
  try {
    const monKeyring = path.join(d, 'tmp/mon.keyring');
    const adminKeyring = path.join(d, 'client.admin.keyring');
    await run('ceph-authtool', [
      '--create-keyring',
      monKeyring,
      '--gen-key',
      '-n',
      'mon.',
      '--cap',
      'mon',
      'allow *',
    ]);
    await run('ceph-authtool', [
      '--create-keyring',
      adminKeyring,
      '--gen-key',
      '-n',
      'client.admin',
      '--cap',
      'mon',
      'allow *',
      '--cap',
      'osd',
      'allow *',
      '--cap',
      'mds',
      'allow *',
      '--cap',
      'mgr',
      'allow *',
    ]);
    const merged = path.join(d, 'tmp/merged.keyring');
    await run('cp', [monKeyring, merged]);
    await run('ceph-authtool', [merged, '--import-keyring', adminKeyring]);
    const monmap = path.join(d, 'tmp/monmap');
    await run('monmaptool', [
      '--create',
      '--fsid',
      fsid,
      '--addv',
      'a',
      `[v2:127.0.0.1:${o.monV2Port},v1:127.0.0.1:${o.monV1Port}]`,
      monmap,
    ]);
    await run(
      'ceph-mon',
      ['--conf', conf, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', merged],
      { env },
    );
    await run('cp', [monKeyring, path.join(d, 'mon/ceph-a/keyring')]);
    await run('ceph-mon', ['--conf', conf, '-i', 'a'], { env });
    await waitFor(
      'the Ceph monitor',
      async () => {
        await ceph(['-s', '--connect-timeout', '5'], 10_000);
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    const osdUuid = randomUUID();
    const secret = (await run('ceph-authtool', ['--gen-print-key'])).trim();
    const secretFile = path.join(d, 'tmp/osd-secret.json');
    await writeFile(secretFile, JSON.stringify({ cephx_secret: secret }));
    const osdId = (await ceph(['osd', 'new', osdUuid, '-i', secretFile])).trim();
    if (osdId !== '0') throw new Error(`expected OSD id 0, got ${osdId}`);
    const osdKeyring = path.join(d, 'osd/ceph-0/keyring');
    await run('ceph-authtool', [
      '--create-keyring',
      osdKeyring,
      '-n',
      'osd.0',
      '--add-key',
      secret,
    ]);
    await run(
      'ceph-osd',
      ['--conf', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid, '--keyring', osdKeyring],
      {
        env,
        timeoutMs: 120_000,
      },
    );
    await run('ceph-osd', ['--conf', conf, '-i', '0'], { env });
    await waitFor(
      'the Ceph OSD',
      async () => (await ceph(['osd', 'dump', '--format', 'json'])).includes('"up":1'),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );

    const rgwKeyring = path.join(d, 'client.rgw.a.keyring');
    const key = await ceph([
      'auth',
      'get-or-create',
      'client.rgw.a',
      'mon',
      'allow rw',
      'osd',
      'allow rwx',
      'mgr',
      'allow rw',
    ]);
    await writeFile(rgwKeyring, key);
    await run('radosgw', ['--conf', conf, '-n', 'client.rgw.a'], { env });
    const endpoint = `http://127.0.0.1:${o.s3Port}`;
    await waitFor('radosgw to answer', async () => (await fetch(`${endpoint}/`)).ok, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    await run(
      'radosgw-admin',
      [
        '--conf',
        conf,
        'user',
        'create',
        '--uid=testuser',
        '--display-name=S3 test user',
        `--access-key=${o.accessKey}`,
        `--secret-key=${o.secretKey}`,
      ],
      { env },
    );
    // Anonymous 200 is not enough: a signed request proves the user exists.
    const client = createS3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
      maxAttempts: 1,
    });
    await waitFor(
      'a signed ListBuckets',
      async () => {
        await client.send(new ListBucketsCommand({}));
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    client.destroy();
    // The TLS endpoint is the same frontend; one signed call over it proves the certificate.
    const tlsClient = createS3Client({
      endpoint: `https://127.0.0.1:${o.tlsPort}`,
      caBundle: await readFile(o.tls.caFile, 'utf8'),
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
      maxAttempts: 1,
    });
    try {
      await tlsClient.send(new ListBucketsCommand({}));
    } finally {
      tlsClient.destroy();
    }
    return {
      endpoint,
      tlsEndpoint: `https://127.0.0.1:${o.tlsPort}`,
      caFile: o.tls.caFile,
      accessKey: o.accessKey,
      secretKey: o.secretKey,
      region: 'us-east-1',
      stop: () => stopRgw(d),
    };
  } catch (error) {
    // Keep the state dir for inspection, but leave no daemon behind.
    await stopRgw(d);
    throw error;
  }
}

export interface SubuserKeys {
  accessKeyId: string;
  secretAccessKey: string;
  /** Deletes the subuser and its keys: requests signed with them are refused from then on. */
  remove(): Promise<void>;
}

/**
 * S3 keys of a subuser of the test user (RGW applies a subuser's permissions to its S3 keys):
 * `read` keys may read but not write, as an operator would hand the plan; `full` keys act as the
 * user, and can be revoked mid-run (credential rotation tests).
 */
export async function createSubuserKeys(
  cephDir: string,
  access: 'read' | 'full',
  uid = 'testuser',
): Promise<SubuserKeys> {
  const conf = path.join(cephDir, 'ceph.conf');
  const env = { ...process.env, CEPH_CONF: conf };
  const subuser = `${uid}:${access}-${randomUUID().slice(0, 8)}`;
  const admin = (args: string[]) =>
    run('radosgw-admin', ['--conf', conf, 'subuser', ...args, `--subuser=${subuser}`], { env });
  const info = JSON.parse(
    await admin([
      'create',
      `--uid=${uid}`,
      `--access=${access}`,
      '--key-type=s3',
      '--gen-access-key',
      '--gen-secret',
    ]),
  ) as { keys: { user: string; access_key: string; secret_key: string }[] };
  const key = info.keys.find((k) => k.user === subuser);
  if (!key) throw new Error(`radosgw-admin created ${subuser} without an S3 key`);
  return {
    accessKeyId: key.access_key,
    secretAccessKey: key.secret_key,
    remove: async () => void (await admin(['rm', '--purge-keys'])),
  };
}

/** Keys that may read but not write (see createSubuserKeys). */
export function createReadOnlyKeys(cephDir: string, uid = 'testuser'): Promise<SubuserKeys> {
  return createSubuserKeys(cephDir, 'read', uid);
}
