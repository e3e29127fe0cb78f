#!/usr/bin/env node
// `npm run bench [-- --scale 0.1]`: runs the TypeScript benchmark from source through tsx.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const child = spawn(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    path.join(repo, 'bench/src/bench.ts'),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: repo },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
