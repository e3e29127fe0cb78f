import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './support.js';

// A storage path that *is* a system directory is refused at the edge: exit 2, one line naming the
// path and the rule, before any S3 or cluster request and before any file of it is read.
describe('dify-storage refuses a system directory as the storage path', () => {
  let server: http.Server;
  let endpoint: string;
  let requests = 0;
  let work: string;
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dsm-storage-path-'));
    fs.symlinkSync('/etc', path.join(work, 'looks-harmless'));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(work, { recursive: true, force: true });
  });

  const env = () => ({
    DIFY_STORAGE_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    DIFY_STORAGE_SECRET_ACCESS_KEY: 'not-a-real-secret-key',
    DIFY_STORAGE_STATE_DIR: path.join(work, 'state'),
    DIFY_STORAGE_REPORT_PATH: path.join(work, 'report.json'),
  });

  for (const [given, shown] of [
    ['/', "'/'"],
    ['/etc', "'/etc'"],
    ['/etc/', "'/etc/'"],
    ['SYMLINK', '(resolves to /etc)'],
  ] as const) {
    it(`migrate --storage-path ${given}`, async () => {
      const storagePath = given === 'SYMLINK' ? path.join(work, 'looks-harmless') : given;
      const argv = ['migrate', '--storage-path', storagePath, '--bucket', 'dify'];
      const r = await cli([...argv, '--endpoint', endpoint], env());
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(shown);
      expect(lines[0]).toContain('is a system directory, never a storage path');
      expect(requests).toBe(0);
      expect(fs.existsSync(path.join(work, 'state'))).toBe(false);
    });
  }

  it('a directory below a system directory stays allowed (the rule matches exactly)', async () => {
    const r = await cli(
      ['migrate', '--storage-path', '/etc/nonexistent-dify-storage', '--bucket', 'dify'],
      { ...env(), DIFY_STORAGE_ENDPOINT: endpoint },
    );
    expect(r.stderr).not.toContain('system directory');
  });
});
