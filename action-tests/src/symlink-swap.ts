import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * What a Dify pod that can write into the storage directory can do: replace `rel` (a directory
 * or a file) with a symlink to `target`. The original moves aside to `<rel>.moved`.
 */
export function swapForSymlink(root: string, rel: string, target: string): void {
  const abs = path.join(root, rel);
  fs.renameSync(abs, `${abs}.moved`);
  fs.symlinkSync(target, abs);
}

/**
 * Runs `attempt` repeatedly while a shell loop swaps the directory `dir` for a symlink to `target`
 * and back as fast as it can: at most 40 times, and no attempt starts unless one as slow as the
 * slowest so far still ends within `ms` (a loaded CI machine makes each attempt slower, never the
 * test longer than its budget).
 */
export async function raceSymlinkSwap(
  dir: string,
  target: string,
  ms: number,
  attempt: (run: number) => Promise<void>,
): Promise<void> {
  const loop = spawn(
    'bash',
    [
      '-c',
      'while :; do mv "$1" "$1.real"; ln -s "$2" "$1"; rm "$1"; mv "$1.real" "$1"; done',
      'swap',
      dir,
      target,
    ],
    { stdio: 'ignore' },
  );
  try {
    const deadline = Date.now() + ms;
    let slowest = 0;
    for (let run = 0; run < 40 && Date.now() + slowest < deadline; run++) {
      const started = Date.now();
      await attempt(run);
      slowest = Math.max(slowest, Date.now() - started);
    }
  } finally {
    loop.kill('SIGKILL');
    await new Promise((r) => loop.once('exit', r));
  }
}
