// What differs between the committed action bundles and the working tree, new files included.
// A glob pathspec: a plain `actions/*/dist` matches no file below those directories (git only
// prefix-matches literal pathspecs), which once made check-dist pass whatever the bundles held.
import { execFileSync } from 'node:child_process';

export const DIST_PATHSPEC = ':(glob)actions/*/dist/**';

/** `git status --porcelain` lines for the bundles under `cwd`; empty when they match. */
export function distChanges(cwd = process.cwd()) {
  return execFileSync(
    'git',
    ['status', '--porcelain', '--untracked-files=all', '--', DIST_PATHSPEC],
    {
      cwd,
      encoding: 'utf8',
    },
  ).trim();
}
