#!/usr/bin/env node
// Runs the compiled CLI (npm run build); from a checkout without a build, use
// `node --conditions=source --import tsx packages/cli/src/main.ts`.
import { main } from '../dist/index.js';

process.exitCode = await main(process.argv.slice(2));
