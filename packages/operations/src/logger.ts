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
