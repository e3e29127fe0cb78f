// One engine run in its own process (so its CPU and peak RSS are its own). Settings arrive on
// stdin (credentials never in argv); prints progress lines and a final JSON result line.
import fs from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import v8 from 'node:v8';
import { syncToBucket, type SyncToBucketOptions } from '@dify-storage/sync';

interface Config {
  options: SyncToBucketOptions;
  /** Print a progress line every this many ms (the parent may SIGKILL on it). */
  progressMs?: number;
}

let input = '';
for await (const chunk of process.stdin) input += String(chunk);
const config = JSON.parse(input) as Config;
const allocProfile = await allocationProfiler(process.env.DSM_BENCH_ALLOC_PROFILE);
let filesDone = 0;
const stopSampler = memorySampler(process.env.DSM_BENCH_MEM_SAMPLE, () => filesDone);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await syncToBucket({
  ...config.options,
  throwOnFailure: false,
  progressIntervalMs: config.progressMs ?? 1000,
  onProgress: (e) => {
    filesDone = e.filesDone;
    process.stdout.write(
      `${JSON.stringify({ progress: { copied: e.copied, done: e.filesDone } })}\n`,
    );
  },
});
stopSampler();
await allocProfile();
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

/**
 * Where the memory is (diagnosis, `DSM_BENCH_MEM_SAMPLE=<file>`): every 100 ms, one JSON line
 * (MiB) of the process's RSS split as the kernel sees it (anonymous / file-backed), V8's heap
 * spaces and the memory outside the heap.
 */
function memorySampler(file: string | undefined, done: () => number): () => void {
  if (!file) return () => undefined;
  const fd = fs.openSync(file, 'w');
  const mib = (n: number): number => Math.round(n / 104857.6) / 10;
  const t0 = performance.now();
  // GC count and time by kind (ms), from the gc performance entries.
  const gc = { minor: [0, 0], major: [0, 0], other: [0, 0] };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      const g =
        kind === constants.NODE_PERFORMANCE_GC_MINOR
          ? gc.minor
          : kind === constants.NODE_PERFORMANCE_GC_MAJOR
            ? gc.major
            : gc.other;
      g[0]!++;
      g[1]! += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const sample = (): void => {
    const m = process.memoryUsage();
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string): number =>
      Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
    const spaces = Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .map((s) => [s.space_name, [mib(s.space_size), mib(s.space_used_size)]]),
    );
    const h = v8.getHeapStatistics();
    const line = {
      physical: mib(h.total_physical_size),
      v8malloc: mib(h.malloced_memory),
      t: Math.round(performance.now() - t0),
      files: done(),
      rss: mib(m.rss),
      anon: Math.round(kb('RssAnon') / 102.4) / 10,
      file: Math.round(kb('RssFile') / 102.4) / 10,
      heapTotal: mib(m.heapTotal),
      heapUsed: mib(m.heapUsed),
      external: mib(m.external),
      arrayBuffers: mib(m.arrayBuffers),
      spaces,
      gc,
    };
    fs.writeSync(fd, `${JSON.stringify(line)}\n`);
  };
  const timer = setInterval(sample, 100);
  sample();
  return () => {
    clearInterval(timer);
    obs.disconnect();
    sample();
    fs.closeSync(fd);
  };
}

/**
 * Who allocates (diagnosis, `DSM_BENCH_ALLOC_PROFILE=<file>`): V8's sampling heap profiler with the
 * objects already collected kept, so the profile is of allocations, not of what stays alive.
 */
async function allocationProfiler(file: string | undefined): Promise<() => Promise<void>> {
  if (!file) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 32768,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
