import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const NOBODY = 65534;

/** Runs the script with `env`, as a user who is not root (and has no sudo). */
function run(script: string, env: NodeJS.ProcessEnv) {
  const asUser =
    process.getuid?.() === 0
      ? [
          'setpriv',
          ['--reuid', `${NOBODY}`, '--regid', `${NOBODY}`, '--clear-groups', 'bash', script],
        ]
      : ['bash', [script]];
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      asUser[0] as string,
      asUser[1] as string[],
      { env, timeout: 30_000, cwd: '/' },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('scripts/system-deps', () => {
  let dir: string;
  let script: string;
  let bin: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'system-deps-'));
    await chmod(dir, 0o755);
    // A copy the unprivileged user can read (the checkout may sit in a 0700 directory).
    script = path.join(dir, 'system-deps');
    await copyFile(path.join(ROOT, 'scripts/system-deps'), script);
    await chmod(script, 0o755);
    // A PATH with everything this machine has, except radosgw.
    bin = path.join(dir, 'bin');
    await mkdir(bin, { mode: 0o755 });
    // System directories first: the unprivileged user cannot reach tools under /root.
    const seen = new Set<string>(['radosgw', 'node']);
    const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
    for (const d of [...dirs, ...(process.env.PATH ?? '').split(':')]) {
      const names = await readdir(d).catch(() => [] as string[]);
      for (const n of names) {
        if (seen.has(n)) continue;
        seen.add(n);
        await symlink(path.join(d, n), path.join(bin, n));
      }
    }
    // This Node may live where that user cannot run it (a local prefix under /root): a stand-in
    // that answers the version check as this Node would.
    await writeFile(path.join(bin, 'node'), `#!/bin/sh\necho ${process.versions.node}\n`, {
      mode: 0o755,
    });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('without radosgw and without root: one line with the apt-get command, exit 2', async () => {
    const r = await run(script, { PATH: bin, HOME: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'system-deps: missing Debian packages: radosgw; as root, run: apt-get update && apt-get install -y --no-install-recommends radosgw\n',
    );
    // CI set changes nothing when there is no root to install with.
    expect(await run(script, { PATH: bin, HOME: dir, CI: 'true' })).toEqual(r);
  });

  it('as root on a terminal: lists the packages, asks, and on "no" prints the line, exit 2', async () => {
    if (process.getuid?.() !== 0) return; // the prompt comes only where apt-get could run
    // script(1) gives the script a terminal; the answer arrives on it.
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = execFile(
        'script',
        ['-qec', `bash ${script}`, '/dev/null'],
        { env: { PATH: bin, HOME: dir }, timeout: 30_000 },
        (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout }),
      );
      child.stdin!.end('n\n');
    });
    expect(r.code).toBe(2);
    expect(r.out).toContain(
      'system-deps: missing Debian packages: radosgw. Install them now with apt-get? [y/N]',
    );
    expect(r.out).toContain(
      'as root, run: apt-get update && apt-get install -y --no-install-recommends radosgw',
    );
  });

  it('on a machine without apt-get: one line saying what is needed, exit 2', async () => {
    await rm(path.join(bin, 'apt-get'));
    const r = await run(script, { PATH: bin, HOME: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('missing: radosgw');
    expect(r.stderr).toContain('this system has no apt-get');
  });

  it('on a Node older than 22.19: one line saying how to get Node 24, exit 2', async () => {
    await writeFile(path.join(bin, 'node'), '#!/bin/sh\necho 20.20.2\n', { mode: 0o755 });
    const r = await run(script, { PATH: bin, HOME: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('Node >= 22.19 is needed');
    expect(r.stderr).toContain('npm ci --prefix action-tests/node24');
  });
});
