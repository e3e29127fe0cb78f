import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlockedError } from '@dify-storage/action-kit';

const LOCK_FILE = '.lock';

interface LockOwner {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid. */
  procStart: string | undefined;
  host: string;
  startedAt: string;
  what: string;
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the owner of a lock still runs: same host, its pid alive and started when it said. */
function alive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true; // another machine's process: cannot tell, assume so
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = procStart(owner.pid);
  return owner.procStart === undefined || now === undefined || now === owner.procStart;
}

/**
 * An exclusive lock on a state directory (a lock file created with O_EXCL holding pid, start
 * time and what runs), so that two runs never copy with the same journal at once. A lock whose
 * process is gone (or whose pid was reused) is stale and taken over. Returns the release.
 */
export async function lockStateDir(dir: string, what: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    procStart: procStart(process.pid),
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    what,
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${JSON.stringify(me)}\n`);
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    } catch {
      owner = undefined; // being written, or damaged: look again
    }
    if (owner && alive(owner)) {
      throw new BlockedError(
        `The state directory ${dir} is in use by another run: ${owner.what}, pid ${owner.pid} on ${owner.host}, started ${owner.startedAt}. Wait for it to finish (or stop it); a lock of a process that is gone is taken over by itself.`,
      );
    }
    if (owner) await rm(file, { force: true });
    else await new Promise((r) => setTimeout(r, 100));
  }
  throw new BlockedError(`The state directory ${dir} stays locked (${file}); look at that file.`);
}
