/**
 * The environment of a child process (zstd, sync, …): only what a tool needs to run. A step's
 * environment carries `INPUT_*` (kubeconfig, keys), `AWS_*` and runner tokens; none of the tools
 * we start needs them, and a tool that crashes or logs its environment must not print them.
 */
const PASSED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR'];

export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of PASSED) if (env[name] !== undefined) out[name] = env[name];
  return out;
}
