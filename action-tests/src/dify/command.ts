import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Absolute path of the emulator's entry point. */
export const DIFY_MAIN = path.join(here, 'main.ts');

/**
 * The command a pod runs for `dify-api` / `dify-worker`: Node with tsx loaded by absolute URL
 * (a bare `--import tsx` would resolve against the pod's working directory and fail).
 */
export function difyEmulatorCommand(role: 'api' | 'worker'): { command: string; args: string[] } {
  const require = createRequire(import.meta.url);
  const tsxDir = path.dirname(require.resolve('tsx/package.json'));
  const loader = pathToFileURL(path.join(tsxDir, 'dist', 'loader.mjs')).href;
  return {
    command: process.execPath,
    args: ['--conditions=source', '--import', loader, DIFY_MAIN, role],
  };
}
