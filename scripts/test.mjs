// The whole test gate, as CI runs it: build + check-dist, lint, typecheck, then one jest run
// that starts the proving ground once (real Ceph RGW, PostgreSQL, Redis) for every suite.
import { spawnSync } from 'node:child_process';

const steps = [
  ['check-dist', 'node', ['scripts/check-dist.mjs']],
  ['lint', 'npm', ['run', '--silent', 'lint']],
  ['typecheck', 'npx', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']],
  ['jest', 'npm', ['run', '--silent', 'test:jest', '--', ...process.argv.slice(2)]],
];
for (const [name, cmd, args] of steps) {
  const started = Date.now();
  process.stdout.write(`\n== ${name} ==\n`);
  const result = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    process.stderr.write(`\n${name} failed after ${seconds} s\n`);
    process.exit(result.status ?? 1);
  }
  process.stdout.write(`== ${name} passed in ${seconds} s ==\n`);
}
