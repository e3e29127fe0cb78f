import v8 from 'node:v8';

/**
 * V8 doubles the young generation whenever the bytes that survived scavenges since its last
 * growth exceed its size. A copy keeps the state of every transfer in flight alive across
 * scavenges, so after a few thousand small files the young generation has grown from 2 × 1 MiB to
 * 2 × 32 MiB (Node 24): 157 MiB peak RSS at 20k files, 64 MiB of it the young generation. Held at
 * 2 × 1 MiB it costs ≈ 6 % more CPU (scavenges four times as often); held at 2 × 4 MiB, ≈ 0 %
 * (docs/performance.md, "Peak RSS"). So while a copy runs, a timer stops the growth (factor 1: it
 * is read at every growth, so it can be set after start-up; the maximum size cannot) once the
 * young generation reaches YOUNG_CAP; the default factor (2) comes back when the last copy ends.
 */
const YOUNG_CAP = 8 * 1024 * 1024;
const DEFAULT_GROWTH_FACTOR = 2;
let holders = 0;
let timer: NodeJS.Timeout | undefined;

function setGrowth(factor: number): void {
  v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

function youngSize(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Caps the young generation until the returned function is called (idempotent). */
export function holdYoungGeneration(): () => void {
  if (holders++ === 0) {
    const check = (): void => {
      if (youngSize() < YOUNG_CAP) return;
      setGrowth(1);
      clearInterval(timer);
    };
    timer = setInterval(check, 20);
    timer.unref();
    check();
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--holders > 0) return;
    clearInterval(timer);
    setGrowth(DEFAULT_GROWTH_FACTOR);
  };
}
