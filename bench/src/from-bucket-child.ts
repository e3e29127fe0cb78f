// One reverse sync (rollback's copy back) in its own process, so its CPU and peak RSS are its
// own. Settings arrive on stdin (credentials never in argv); prints one JSON result line.
import { syncFromBucket, type SyncFromBucketOptions } from '@dify-storage/sync';

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const options = JSON.parse(input) as SyncFromBucketOptions;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await syncFromBucket({ ...options, throwOnFailure: false });
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({
    result: {
      wallMs: performance.now() - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssKiB: process.resourceUsage().maxRSS,
      counts: report.counts,
      bytes: report.bytes,
      requests: report.requests,
      failures: report.failures.slice(0, 5),
    },
  })}\n`,
);
