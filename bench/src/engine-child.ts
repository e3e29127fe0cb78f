// One engine run in its own process (so its CPU and peak RSS are its own). Settings arrive on
// stdin (credentials never in argv); prints progress lines and a final JSON result line.
import { syncToBucket, type SyncToBucketOptions } from '@dify-storage/sync';

interface Config {
  options: SyncToBucketOptions;
  /** Print a progress line every this many ms (the parent may SIGKILL on it). */
  progressMs?: number;
}

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const config = JSON.parse(input) as Config;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await syncToBucket({
  ...config.options,
  throwOnFailure: false,
  progressIntervalMs: config.progressMs ?? 1000,
  onProgress: (e) =>
    process.stdout.write(
      `${JSON.stringify({ progress: { copied: e.copied, done: e.filesDone } })}\n`,
    ),
});
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({
    result: {
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssKiB: process.resourceUsage().maxRSS,
      counts: report.counts,
      bytes: report.bytes,
      requests: report.requests,
      retries: report.retries,
      failures: report.failures.slice(0, 5),
      ...(report.delta ? { delta: report.delta } : {}),
    },
  })}\n`,
);
