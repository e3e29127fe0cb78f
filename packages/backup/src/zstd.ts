import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { childEnv } from '@dify-storage/common';
import { BackupError } from './errors.js';

export interface ZstdProcess {
  stdin: Writable;
  /** null when zstd writes to a file descriptor. */
  stdout: Readable | null;
  /** Resolves when zstd exits 0; rejects with its stderr otherwise (or when it cannot start). */
  exited: Promise<void>;
  /** True once the process has exited, whatever the code. */
  hasExited(): boolean;
  kill(): void;
}

const STDERR_LIMIT = 4096;
const INSTALL_HINT =
  'Install it (Debian/Ubuntu: apt-get install zstd) and make sure it is on PATH.';

/**
 * Runs the `zstd` binary (no shell) with a pipe on stdin and, unless `outputFd` is given, on
 * stdout. With `outputFd` zstd writes straight into that file: compressed bytes never cross
 * the event loop.
 */
export function spawnZstd(
  args: readonly string[],
  purpose: string,
  outputFd?: number,
): ZstdProcess {
  const child = spawn('zstd', [...args], {
    stdio: ['pipe', outputFd ?? 'pipe', 'pipe'],
    env: childEnv(),
  });
  const stdin = child.stdin!;
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.slice(0, STDERR_LIMIT - stderr.length);
  });
  // A dead zstd makes writes to its stdin fail with EPIPE; the exit status tells the real story.
  stdin.on('error', () => {});
  let done = false;
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      done = true;
      reject(
        new BackupError(
          error.code === 'ENOENT'
            ? `The zstd program was not found (needed to ${purpose}). ${INSTALL_HINT}`
            : `Could not start zstd to ${purpose}: ${error.message}`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      done = true;
      if (code === 0) resolve();
      else
        reject(
          new BackupError(
            `zstd failed to ${purpose} (${signal ? `signal ${signal}` : `exit code ${code}`})` +
              (stderr.trim() ? `: ${stderr.trim()}` : ''),
          ),
        );
    });
  });
  exited.catch(() => {});
  return {
    stdin,
    stdout: child.stdout,
    exited,
    hasExited: () => done,
    kill: () => {
      if (!done) child.kill('SIGKILL');
    },
  };
}

/** `zstd --version`, or a clear error when zstd is missing. */
export async function zstdVersion(): Promise<string> {
  const z = spawnZstd(['--version'], 'report its version');
  let out = '';
  z.stdout!.setEncoding('utf8');
  z.stdout!.on('data', (c: string) => (out += c));
  z.stdin.end();
  await z.exited;
  return out.trim();
}
