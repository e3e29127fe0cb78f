// What the long scenarios (`npm run bench -- --scenario freeze|1m|backup`) share: the S3 target
// factory and a log from bench.ts, a place for data, and one way to print and save results.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Target } from '@dify-storage/s3';
import { REPO, createBucket } from './tools.js';

export interface ScenarioContext {
  target: (bucket: string) => S3Target;
  /** The same gateway over TLS, its private CA given (undefined when the server has no TLS). */
  tlsTarget?: (bucket: string) => S3Target;
  log: (s: string) => void;
  dataDir: string;
  arg: (name: string) => string | undefined;
}

export interface Check {
  name: string;
  value: string;
  target: string;
  pass: boolean | undefined;
}

/** A markdown table (first column left-aligned). */
export function mdTable(head: string[], rows: (string | number)[][]): string {
  const body = rows.map((r) => r.map(String));
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [
    line(head),
    `|${head.map((_, i) => (i === 0 ? ':--' : '--:')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

export function check(name: string, value: number, op: '>=' | '<=', want: number, d = 2): Check {
  const pass = Number.isFinite(value) ? (op === '>=' ? value >= want : value <= want) : undefined;
  return {
    name,
    value: Number.isFinite(value) ? value.toFixed(d) : '–',
    target: `${op} ${want}`,
    pass,
  };
}

export function checksTable(checks: Check[]): string {
  return mdTable(
    ['check', 'value', 'target', 'pass'],
    checks.map((c) => [
      c.name,
      c.value,
      c.target,
      c.pass === undefined ? '–' : c.pass ? 'yes' : 'NO',
    ]),
  );
}

/** The machine line every result starts with: cores, Node, and the load (other work runs too). */
export function machineLine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model}; Node ${process.version}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (the client and RGW share the machine with other work)`;
}

/** Prints the report and writes it to bench/results/<name>-<stamp>.{md,json}. */
export function saveResults(
  name: string,
  markdown: string,
  json: unknown,
  log: (s: string) => void,
): void {
  process.stdout.write(`${markdown}\n`);
  const dir = path.join(REPO, 'bench/results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(dir, `${name}-${stamp}.md`), markdown);
  fs.writeFileSync(path.join(dir, `${name}-${stamp}.json`), JSON.stringify(json, null, 2));
  log(`written to bench/results/${name}-${stamp}.{md,json}`);
}

export async function freshTarget(ctx: ScenarioContext, tag: string): Promise<S3Target> {
  const t = ctx.target(`bench-${tag}-${Math.random().toString(36).slice(2, 8)}`);
  await createBucket(t);
  return t;
}

/** The bucket `name`, created unless an earlier run left it there (`--bucket`). */
export async function keptTarget(ctx: ScenarioContext, name: string): Promise<S3Target> {
  const t = ctx.target(name);
  await createBucket(t).catch(() => undefined);
  return t;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
