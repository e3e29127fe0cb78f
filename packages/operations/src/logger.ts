/** Where operations write their progress: core.info in a step, the terminal in the CLI. */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}
