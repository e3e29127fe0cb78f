export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

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
