import type { Logger } from '@dify-storage/operations';

/**
 * A logger for a shell: progress lines redraw in place on a terminal (a progress bar when the
 * line carries "done/total"), and are printed plainly when output goes to a file or a pipe.
 */
export function terminalLogger(out: NodeJS.WriteStream = process.stderr): Logger & { end(): void } {
  const tty = out.isTTY === true;
  let pending = false;
  const clear = () => {
    if (pending) out.write('\r\x1b[K');
    pending = false;
  };
  return {
    info: (line) => {
      clear();
      out.write(`${line}\n`);
    },
    warn: (line) => {
      clear();
      out.write(/^warning\b/i.test(line) ? `${line}\n` : `warning: ${line}\n`);
    },
    progress: (line) => {
      if (!tty) {
        out.write(`${line}\n`);
        return;
      }
      const width = out.columns ?? 100;
      // The share done: "done/total" files, else a "(NN%)" of bytes.
      const m = /(\d+)\/(\d+)\b/.exec(line);
      const pct = /\((\d+)%\)/.exec(line);
      const fraction = m
        ? Number(m[1]) / Math.max(1, Number(m[2]))
        : pct
          ? Number(pct[1]) / 100
          : undefined;
      const bar = fraction !== undefined ? `${renderBar(fraction, 20)} ` : '';
      out.write(`\r\x1b[K${(bar + line).slice(0, width - 1)}`);
      pending = true;
    },
    end: clear,
  };
}

export function renderBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.round(f * 100)}%`;
}
