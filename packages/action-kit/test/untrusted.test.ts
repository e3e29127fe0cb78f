import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { escapeHtml, logUntrusted } from '../src/index.js';

// A Dify user names a file; the copy report prints it. The runner reads any line starting with
// `::` as a workflow command, so the name must not be able to start one.
function captured(run: () => void): string {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c) => {
    out += String(c);
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return out;
}

/** The lines the runner would act on: commands outside a stop-commands block. */
function commandsSeen(output: string): string[] {
  const seen: string[] = [];
  let stopToken: string | undefined;
  for (const line of output.split('\n')) {
    if (stopToken !== undefined) {
      if (line === `::${stopToken}::`) stopToken = undefined;
      continue;
    }
    const stop = /^::stop-commands::(.+)$/.exec(line);
    if (stop) stopToken = stop[1];
    else if (line.trimStart().startsWith('::')) seen.push(line);
  }
  return seen;
}

describe('names from the tree in logs and summaries', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  for (const name of [
    'upload_files/t1/::set-output name=copied::0',
    'upload_files/t1/a\n::add-mask::x\n::set-output name=failed::0',
    'upload_files/t1/a%0A::error::forged',
    'upload_files/t1/a\r::warning::forged',
  ]) {
    it(`cannot forge a workflow command: ${JSON.stringify(name)}`, () => {
      const out = captured(() => logUntrusted(`failed: ${name}: permission denied`));
      expect(commandsSeen(out)).toEqual([]);
      expect(out).toContain('permission denied');
    });
  }

  it('plain text is printed as is, without a stop-commands block', () => {
    expect(captured(() => logUntrusted('copied 3 files'))).toBe('copied 3 files\n');
  });

  it('cannot close a tag or break a summary table', () => {
    expect(escapeHtml('a</code></pre><img src=x>|b')).toBe(
      'a&lt;/code&gt;&lt;/pre&gt;&lt;img src=x&gt;&#124;b',
    );
  });
});
