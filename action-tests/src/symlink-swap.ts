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
 * Runs `attempt` repeatedly (at most `ms`, at most 40 times) while a shell loop swaps the
 * directory `dir` for a symlink to `target` and back as fast as it can.
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
    for (let run = 0; Date.now() < deadline && run < 40; run++) await attempt(run);
  } finally {
    loop.kill('SIGKILL');
    await new Promise((r) => loop.once('exit', r));
  }
}
