import { sleep } from '@dify-storage/common';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Calls `check` until it returns a value other than undefined or the deadline passes; then
 * calls `onTimeout` for the error to throw (it can describe what was still pending).
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: PollOptions,
  onTimeout: () => Promise<Error> | Error,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 2000;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw await onTimeout();
    await sleep(Math.min(interval, remaining), options.signal);
  }
}
