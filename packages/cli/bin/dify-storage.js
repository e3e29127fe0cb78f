#!/usr/bin/env node
// Runs the compiled CLI (after `npm run build`); in a checkout without a build, runs the
// TypeScript source through tsx, so `npx dify-storage` works either way.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/index.js', import.meta.url);
if (existsSync(fileURLToPath(dist))) {
  const { main } = await import(dist.href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const r = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      import.meta.resolve('tsx'),
      source,
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  process.exitCode = r.status ?? 1;
}
