/**
 * Issue 15 §4: references already broken before the migration (row in the database, file never
 * in the storage directory) are listed by the backup's preflight, per kind, in its result, the
 * CLI's text and the job summary, so the operator sees they predate the migration.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { escapeHtml } from '@dify-storage/action-kit';
import { readBackupConfig, runBackup, type Logger } from '@dify-storage/operations';
import { run } from '../../../actions/backup-hostpath/src/main.js';
import { runActionInProcess } from '../../src/bundles.js';
import {
  installInputValues,
  startSimulatedInstall,
  type SimulatedInstall,
} from '../../src/install/simulated-install.js';
import { testEnv } from '../../src/proving-ground/index.js';

const lines: string[] = [];
const log: Logger = { info: (l) => lines.push(l), warn: (l) => lines.push(`warning: ${l}`) };

describe('preflight lists the references broken before the migration', () => {
  let install: SimulatedInstall;
  let work: string;

  beforeAll(async () => {
    install = await startSimulatedInstall({ env: testEnv(), seed: 'pre-existing', files: 20 });
    work = await mkdtemp(path.join(os.tmpdir(), 'preflight-summary-'));
  }, 60_000);
  afterAll(async () => {
    await install?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('counts them per kind and names them in the result and the log', async () => {
    const values = installInputValues(install, { 'preflight-only': 'true' });
    const r = await runBackup(
      readBackupConfig(
        (n) => values[n] ?? '',
        {},
        () => undefined,
      ),
      log,
    );
    const broken = install.seeded.cases.broken;
    expect(r.preExisting).toMatchObject({
      storagePath: install.storagePath,
      total: 2,
      perKind: { upload_files: 1, image_files: 1, tool_files: 0, privkeys: 0, keyword_files: 0 },
    });
    expect(r.preExisting!.examples.map((e) => e.key).sort()).toEqual(
      broken.map((b) => b.key).sort(),
    );
    expect(lines.join('\n')).toContain(
      `preflight: pre-existing, 2 rows (upload_files 1, image_files 1) of ${r.preExisting!.references} references have no file in ${install.storagePath} before the migration`,
    );
  }, 60_000);

  it('puts the per-kind table and the keys in the job summary of backup-hostpath', async () => {
    const step = await runActionInProcess(
      run,
      installInputValues(install, { 'preflight-only': 'true' }),
      { output: path.join(work, 'output'), summary: path.join(work, 'summary.md') },
    );
    expect(step.failed).toBe(false);
    const summary = step.summary;
    expect(summary).toContain('<h3>Database references broken before the migration</h3>');
    expect(summary).toContain('<tr><td>upload_files</td><td>1</td></tr>');
    expect(summary).toContain('<tr><td>image_files</td><td>1</td></tr>');
    expect(summary).toMatch(/<tr><td>total<\/td><td>2 of \d+ references<\/td><\/tr>/);
    for (const b of install.seeded.cases.broken)
      expect(summary).toContain(
        escapeHtml(
          `${b.key.startsWith('image') ? 'image' : 'upload'}_files ${JSON.stringify(b.key)}`,
        ),
      );
  }, 60_000);
});
