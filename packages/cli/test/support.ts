import { jest } from '@jest/globals';
import { main } from '@dify-storage/cli';

/** Runs the CLI in-process and captures what it prints. */
export async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c) => ((stdout += String(c)), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((c) => ((stderr += String(c)), true));
  try {
    const code = await main(argv, env);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
