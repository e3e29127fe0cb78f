import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { cli } from '../../../packages/cli/test/support.js';
import { REPO_ROOT } from '../../src/proving-ground/index.js';

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const DOCS = [
  'README.md',
  'README.zh-CN.md',
  ...readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const CLI =
  /^(?:npx dify-storage|dify-storage|node --conditions=source --import tsx packages\/cli\/src\/main\.ts)(?=\s|$)/;

/** Command lines in the docs' fenced shell blocks and inline code, comments and prompts removed. */
function commandLines(file: string): string[] {
  const text = read(file);
  const fenced = [...text.matchAll(/```(?:sh|bash|shell)?\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!.split('\n'),
  );
  const inline = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...fenced, ...inline]
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .flatMap((l) => l.split(/\s+(?:&&|;)\s+/))
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Splits a command line as the shell would, for the simple quoting the docs use. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Every input and secret name an action or workflow declares. */
function declaredInputs(): Set<string> {
  const names = new Set<string>();
  for (const a of readdirSync(path.join(REPO_ROOT, 'actions'))) {
    const file = `actions/${a}/action.yml`;
    if (!existsSync(path.join(REPO_ROOT, file))) continue;
    for (const k of Object.keys((parse(read(file)) as { inputs?: object }).inputs ?? {}))
      names.add(k);
  }
  for (const w of readdirSync(path.join(REPO_ROOT, '.github/workflows'))) {
    const on = (parse(read(`.github/workflows/${w}`)) as { on?: Record<string, unknown> }).on ?? {};
    for (const trigger of Object.values(on) as ({ inputs?: object } | null)[]) {
      for (const k of Object.keys(trigger?.inputs ?? {})) names.add(k);
    }
  }
  return names;
}

describe('the docs match the code', () => {
  const lines = DOCS.flatMap((f) => commandLines(f).map((l) => ({ file: f, line: l })));

  it('every CLI command line in the docs parses: its command and flags exist (run with --help)', async () => {
    const cliLines = lines.filter((l) => CLI.test(l.line));
    expect(cliLines.length).toBeGreaterThan(5);
    const failures: { file: string; line: string; out: string }[] = [];
    for (const { file, line } of cliLines) {
      const argv = words(line.replace(CLI, '')).filter((w) => w !== '--help');
      if (argv[0]?.startsWith('<')) continue; // a template: `dify-storage <command>`
      const r = await cli([...argv, '--help']);
      if (r.code !== 0) failures.push({ file, line, out: r.stderr });
    }
    expect(failures).toEqual([]);
  });

  it('every npm script and file a command line names exists', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
      .scripts;
    for (const { file, line } of lines) {
      for (const m of line.matchAll(/\bnpm run (?:--silent )?([a-z:-]+)/g)) {
        expect({ file, line, script: m[1], exists: m[1]! in scripts }).toMatchObject({
          exists: true,
        });
      }
      for (const m of line.matchAll(
        /(?:^|\s)((?:scripts|action-tests|packages|bench)\/[\w./-]+\.(?:ts|mjs|js))\b/g,
      )) {
        expect({
          file,
          line,
          path: m[1],
          exists: existsSync(path.join(REPO_ROOT, m[1]!)),
        }).toMatchObject({
          exists: true,
        });
      }
    }
  });

  it('every input the docs name exists in an action.yml or a workflow', () => {
    const known = declaredInputs();
    const named: { file: string; name: string }[] = [];
    for (const file of DOCS) {
      const text = read(file);
      // "`x` input", "input `x`", and the first column of tables headed "input".
      for (const m of text.matchAll(/`([a-z][a-z0-9-]+)` inputs?\b|\binputs? `([a-z][a-z0-9-]+)`/g))
        named.push({ file, name: (m[1] ?? m[2])! });
      for (const table of text.matchAll(/^\| input +\|[^\n]*\n\|[-| ]+\n((?:\|[^\n]*\n)+)/gm)) {
        for (const row of table[1]!.matchAll(/^\| `([a-z][a-z0-9-]+)`/gm))
          named.push({ file, name: row[1]! });
      }
      for (const table of text.matchAll(
        /^\| action +\| input +\|[^\n]*\n\|[-| ]+\n((?:\|[^\n]*\n)+)/gm,
      )) {
        for (const row of table[1]!.matchAll(/^\| `[a-z0-9-]+` +\| `([a-z][a-z0-9-]+)`/gm))
          named.push({ file, name: row[1]! });
      }
    }
    // The example caller's `with:` keys are inputs of the reusable workflow.
    const caller = parse(read('docs/examples/caller.yml')) as {
      jobs: Record<string, { with?: object }>;
    };
    for (const job of Object.values(caller.jobs))
      for (const k of Object.keys(job.with ?? {}))
        named.push({ file: 'docs/examples/caller.yml', name: k });
    expect(named.length).toBeGreaterThan(30);
    expect(named.filter((n) => !known.has(n.name))).toEqual([]);
  });
});
