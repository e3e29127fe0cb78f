import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Runs a program (no shell) and returns stdout; rejects with stderr in the message. */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          // The program's own stderr, always: it says why (e.g. initdb's permission error).
          const why = error.killed ? `timed out, killed by ${error.signal}` : `exit ${error.code}`;
          reject(new Error(`${file} ${args.join(' ')} failed (${why}):\n${stderr.trim()}`));
        } else {
          resolve(stdout);
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Polls `check` until it resolves true or the deadline passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 250 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

async function processState(pid: number): Promise<'alive' | 'gone'> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    // A zombie has exited; its parent just has not reaped it yet.
    return /^State:\s+Z/m.test(status) ? 'gone' : 'alive';
  } catch {
    return 'gone';
  }
}

/**
 * Stops a process we started, guarding against pid reuse by checking its command name;
 * SIGTERM, then SIGKILL after `graceMs`.
 */
export async function stopProcess(
  pid: number,
  expectedComm: string,
  graceMs = 15_000,
): Promise<void> {
  let comm: string;
  try {
    comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return;
  }
  if (!expectedComm.startsWith(comm) && !comm.startsWith(expectedComm.slice(0, 15))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if ((await processState(pid)) === 'gone') return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Pids recorded as `<name>.pid` files in a directory. */
export async function pidFiles(dir: string): Promise<{ name: string; pid: number }[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const result: { name: string; pid: number }[] = [];
  for (const entry of entries.filter((e) => e.endsWith('.pid'))) {
    const pid = Number((await readFile(path.join(dir, entry), 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0) result.push({ name: entry.slice(0, -4), pid });
  }
  return result;
}
