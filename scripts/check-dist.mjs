// Rebuilds every package and action bundle, then fails if any committed dist/ differs from
// the rebuild, new untracked files included (git status, not git diff).
import { execFileSync } from 'node:child_process';
import { distChanges } from './dist-changes.mjs';

execFileSync('npx', ['turbo', 'run', 'build', '--force', '--output-logs=errors-only'], {
  stdio: 'inherit',
});
const status = distChanges();
if (status !== '') {
  process.stderr.write(
    `check-dist: the committed dist/ differs from a fresh build:\n${status}\nRun \`npm run build\` and commit actions/*/dist.\n`,
  );
  process.exit(1);
}
process.stdout.write('check-dist: every actions/*/dist matches a fresh build\n');
