import { describe, expect, it } from '@jest/globals';
import { transferLine } from '@dify-storage/operations';
import { terminalLogger } from '../src/terminal.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A stream that records what is written, a terminal or not. */
function stream(isTTY: boolean) {
  const chunks: string[] = [];
  const out = {
    isTTY,
    columns: 120,
    write: (c: string) => (chunks.push(c), true),
  } as unknown as NodeJS.WriteStream;
  return { out, chunks };
}

describe('progress of long work', () => {
  const p = {
    phase: 'archive' as const,
    files: 1200,
    dirs: 3,
    bytes: GiB,
    totalBytes: 4 * GiB,
    elapsedMs: 10_240,
    bytesPerSecond: 100 * MiB,
    filesPerSecond: 117,
    done: false,
  };

  it('says files, bytes of the total, rate and ETA', () => {
    expect(transferLine(p)).toBe(
      'archive: 1200 files, 1.0 GiB of 4.0 GiB (25%), 100.0 MiB/s, ETA 30.7 s',
    );
    // A restore knows its total from the backup record.
    expect(transferLine({ ...p, phase: 'restore', totalBytes: undefined }, 2 * GiB)).toContain(
      'of 2.0 GiB (50%)',
    );
  });

  it('redraws one line with a bar on a terminal, prints plain lines otherwise', () => {
    const tty = stream(true);
    const log = terminalLogger(tty.out);
    log.progress!(transferLine(p));
    log.info('done');
    expect(tty.chunks[0]).toBe(`\r\x1b[K[#####...............] 25% ${transferLine(p)}`);
    expect(tty.chunks.slice(1)).toEqual(['\r\x1b[K', 'done\n']);

    const file = stream(false);
    const plain = terminalLogger(file.out);
    plain.progress!(transferLine(p));
    plain.progress!(transferLine({ ...p, bytes: 2 * GiB }));
    expect(file.chunks).toEqual([
      `${transferLine(p)}\n`,
      `${transferLine({ ...p, bytes: 2 * GiB })}\n`,
    ]);
    expect(file.chunks.join('')).not.toContain('\r');
  });
});
