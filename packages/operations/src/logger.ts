import type { BackupProgress } from '@dify-storage/backup';
import { formatBytes, formatDuration } from '@dify-storage/common';

/** Where operations write their progress: core.info in a step, the terminal in the CLI. */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  /** A progress line that replaces the previous one on a terminal; in a log, a plain line. */
  progress?(line: string): void;
}

export function progressOf(log: Logger): (line: string) => void {
  return log.progress ? (line) => log.progress!(line) : (line) => log.info(line);
}

/**
 * One progress line of a backup, verification or restore: files, bytes (of the total, when known),
 * rate and ETA, e.g. "archive: 1200 files, 1.1 GiB of 4.0 GiB (27%), 85.0 MiB/s, ETA 35.2 s".
 */
export function transferLine(p: BackupProgress, totalBytes = p.totalBytes): string {
  const of =
    totalBytes !== undefined && totalBytes > 0
      ? ` of ${formatBytes(totalBytes)} (${Math.min(100, Math.floor((p.bytes / totalBytes) * 100))}%)`
      : '';
  const eta =
    totalBytes !== undefined && p.bytesPerSecond > 0 && !p.done
      ? `, ETA ${formatDuration((Math.max(0, totalBytes - p.bytes) / p.bytesPerSecond) * 1000)}`
      : '';
  return `${p.phase}: ${p.files} files, ${formatBytes(p.bytes)}${of}, ${formatBytes(p.bytesPerSecond)}/s${eta}`;
}
