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
/**
 * After each full GC V8 lets the old generation grow to up to 4 × what survived (its
 * `MaxGrowingFactor` on a machine with memory to spare; v8 src/heap/heap-controller.cc,
 * `GrowingFactor`, which reads `--heap-growing-percent` at every GC, so it can be set after
 * start-up). A copy's live heap is small (≈ 15 MiB at 1M files), but what a walk and a listing
 * keep across a few scavenges (pages read ahead, a directory's entries) is promoted and dies old:
 * at 4 × the old generation and its large objects reached 100 MiB of mostly garbage. Held at 2 ×
 * while a copy runs: the same CPU within the noise (docs/performance.md, "Walk + decide at 1M").
 */
const OLD_GROWING_PERCENT = 100;
let holders = 0;
let timer: NodeJS.Timeout | undefined;

/**
 * Whether the process was started with its own setting of a flag (node's argv or NODE_OPTIONS):
 * then it is the operator's (or a bench's) choice, neither overridden nor reset.
 */
function setByOperator(flag: string): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const names = [flag, flag.replace(/-/g, '_')];
  return given.some((a) => names.some((n) => a === `--${n}` || a.startsWith(`--${n}=`)));
}
const OWN_YOUNG = !setByOperator('semi-space-growth-factor');
const OWN_OLD = !setByOperator('heap-growing-percent');

function setGrowth(factor: number): void {
  if (OWN_YOUNG) v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

/** 0: V8's own heuristic (up to 4 ×). */
function setOldGrowing(percent: number): void {
  if (OWN_OLD) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

function youngSize(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Caps the young generation, and the old generation's growth at 2 × what survives a full GC,
 * until the returned function is called (idempotent).
 */
export function holdHeap(): () => void {
  if (holders++ === 0) {
    setOldGrowing(OLD_GROWING_PERCENT);
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
    setOldGrowing(0);
  };
}
