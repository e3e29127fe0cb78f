// Rebuilds every package and action bundle, then fails if any committed dist/ differs from
// the rebuild, new untracked files included (git status, not git diff).
import { execFileSync } from 'node:child_process';

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });
run('npx', ['turbo', 'run', 'build', '--force', '--output-logs=errors-only']);
const status = execFileSync(
  'git',
  ['status', '--porcelain', '--untracked-files=all', '--', 'actions/*/dist'],
  {
    encoding: 'utf8',
  },
);
if (status.trim() !== '') {
  process.stderr.write(
    `check-dist: the committed dist/ differs from a fresh build:\n${status}\nRun \`npm run build\` and commit actions/*/dist.\n`,
  );
  process.exit(1);
}
process.stdout.write('check-dist: every actions/*/dist matches a fresh build\n');
